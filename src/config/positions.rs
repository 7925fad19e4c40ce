//! Where each node of a YAML document stands, by path (`mysql[1].name`), so that errors found
//! after deserialization (duplicate names, missing environment variables) can still name the
//! line and column the way serde's own errors do.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line and column, both 1-based, as editors count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

#[derive(Debug, Default)]
pub struct Positions {
    map: HashMap<String, Pos>,
}

impl Positions {
    /// Indexes `src`. A document the YAML parser rejects yields an empty index: serde reports
    /// that error with its own location before the index is ever consulted.
    pub fn index(src: &str) -> Self {
        let mut rx = Receiver::default();
        let mut parser = Parser::new_from_str(src);
        if parser.load(&mut rx, false).is_err() {
            return Positions::default();
        }
        Positions { map: rx.map }
    }

    /// The position of the node at `path`, or of its nearest ancestor that has one.
    pub fn find(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(pos) = self.map.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        seen_key: bool,
    },
    Seq {
        path: String,
        next: usize,
    },
}

#[derive(Default)]
struct Receiver {
    stack: Vec<Frame>,
    map: HashMap<String, Pos>,
}

impl Receiver {
    /// The path of the node that the next value event opens, or `None` if the event is a key.
    fn value_path(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Seq { path, next }) => {
                let p = format!("{path}[{next}]");
                *next += 1;
                Some(p)
            }
            Some(Frame::Map { path, key, .. }) => key.take().map(|k| {
                if path.is_empty() {
                    k
                } else {
                    format!("{path}.{k}")
                }
            }),
        }
    }
}

impl MarkedEventReceiver for Receiver {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos {
            line: mark.line(),
            col: mark.col() + 1,
        };
        match ev {
            Event::Scalar(text, ..) => match self.value_path() {
                Some(path) => {
                    self.map.insert(path, pos);
                }
                None => {
                    if let Some(Frame::Map {
                        key,
                        path,
                        seen_key,
                    }) = self.stack.last_mut()
                    {
                        // A block mapping's start event is marked after its first key; the
                        // key's own mark is where a reader expects the mapping to begin.
                        if !*seen_key {
                            *seen_key = true;
                            let p = self.map.entry(path.clone()).or_insert(pos);
                            if (pos.line, pos.col) < (p.line, p.col) {
                                *p = pos;
                            }
                        }
                        *key = Some(text);
                    }
                }
            },
            Event::Alias(_) => {
                if let Some(path) = self.value_path() {
                    self.map.insert(path, pos);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A mapping used as a key has no path of its own; index it under a
                // placeholder so the nesting stays balanced.
                let path = self.value_path().unwrap_or_else(|| "?".to_owned());
                self.map.entry(path.clone()).or_insert(pos);
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        path,
                        key: None,
                        seen_key: false,
                    }
                } else {
                    Frame::Seq { path, next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_point_at_values() {
        let src =
            "listen: 127.0.0.1:9469\nmysql:\n  - name: a\n    user: x\n  - {name: b, user: y}\n";
        let p = Positions::index(src);
        assert_eq!(p.find("listen"), Some(Pos { line: 1, col: 9 }));
        assert_eq!(p.find("mysql[0].name"), Some(Pos { line: 3, col: 11 }));
        assert_eq!(p.find("mysql[1].name"), Some(Pos { line: 5, col: 12 }));
        assert_eq!(p.find("mysql[1]"), Some(Pos { line: 5, col: 5 }));
        // A field that is absent falls back to its mapping.
        assert_eq!(
            p.find("mysql[0].password_env"),
            Some(Pos { line: 3, col: 5 })
        );
    }
}
