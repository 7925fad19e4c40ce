"""Every dashboard generate.py writes, in one list. A new dashboard is a module here that
defines `BOARD` (a lib.layout.Board) and one entry below; a new row of an existing dashboard
is a function in its module and one entry in that board's `rows`."""

from . import backups, databases, headroom_self, load_balancers, memcached, migration, overview, posture, webdav

BOARDS = [
    overview.BOARD,
    load_balancers.BOARD,
    memcached.BOARD,
    databases.BOARD,
    headroom_self.BOARD,
    migration.BOARD,
    webdav.BOARD,
    posture.BOARD,
    backups.BOARD,
]
