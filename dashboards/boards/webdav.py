"""WebDAV / HTTP: what the `http` probes measure from each vantage point: GET and PUT latency
percentiles, latency by phase per method, status codes, probe and round-trip success, failures
by reason, and the days left on the certificates of the probed HTTPS endpoints.

The series are blackbox_exporter's (`probe_*`, gauges of the latest probe) and headroom's own
histograms and counters (`headroom_http_*`). Every series carries the probing agent's
`vantage`; the `vantage` variable selects among them, and the panels keep it in their
legends so that one panel compares "PUT from us-west-2" with "PUT from eu-central-1" when one
Prometheus scrapes both agents. Aggregations keep `job`, `target` and `vantage`, so two agents
at one vantage (a redundant pair) count as one place.
"""

from grafana_foundation_sdk.models import common

from lib import checks, variables
from lib.layout import Board, Row
from lib.panels import Cell, bargauge, by_regexp, q, stat, state_timeline, timeseries, value_map
from lib.promql import RATE, VANTAGE, in_region, sel

# The methods a probe sends (a round trip is a PUT, a GET and a DELETE of its own).
METHODS = ("GET", "HEAD", "PUT", "DELETE", "PROPFIND")
# The request phases of headroom_http_request_duration_seconds and probe_http_duration_seconds,
# in the order a request goes through them (the histogram also has `total`).
PHASES = ("resolve", "connect", "tls", "processing", "transfer")

# Every query keeps the selected vantages only.
IN_VANTAGE = f'vantage=~"${VANTAGE}"'
# What the per-target latency series are grouped by: one line per endpoint and vantage.
PER_ENDPOINT = "job, target, vantage"
ENDPOINT_LEGEND = "{{target}} from {{vantage}}"

PER_MINUTE = "suffix:/min"
DAYS = "suffix:days"

# The p95 thresholds of WEBDAV_PUT_LATENCY and WEBDAV_GET_LATENCY: WARNING above 1 s,
# CRITICAL above 3 s, as the alerts of alerts/http.rules.yml. The checks come with the http
# source (checks/http.yaml); until they are shipped the panels draw these steps, from then
# on the checks' own, so that a changed threshold fails `generate.py --check` as for every
# other board.
P95_STEPS = [(None, checks.OK), (1, checks.WARNING), (3, checks.CRITICAL)]


def _p95_thresholds(check: str):
    if check in checks.shipped_checks():
        return checks.check_thresholds(check)
    return checks.thresholds(P95_STEPS)


def _http(metric: str, *matchers: str) -> str:
    """An http series of the selected targets and vantages, in the selected regions."""
    return in_region(sel(metric, IN_VANTAGE, *matchers))


def _per_minute(metric: str, by: str, *matchers: str) -> str:
    """Events per minute over $__rate_interval, summed by `by`: probes run every few seconds
    to a minute, so a rate per second would read 0.017 for one failure a minute."""
    r = in_region(f"rate({sel(metric, IN_VANTAGE, *matchers)}[{RATE}])")
    return f"60 * sum by ({by}) ({r})"


def _quantile(phi: float, method: str) -> str:
    """The phi-quantile of the total request time of `method` per endpoint and vantage, from
    headroom_http_request_duration_seconds over $__rate_interval."""
    selector = sel("headroom_http_request_duration_seconds_bucket", IN_VANTAGE, f'method="{method}"', 'phase="total"')
    buckets = in_region(f"rate({selector}[{RATE}])")
    return f"histogram_quantile({phi}, sum by ({PER_ENDPOINT}, le) ({buckets}))"


def _percentiles(method: str, check: str, what: str) -> Cell:
    return timeseries(
        f"{method} latency (p50, p95, p99)",
        f"The median, 95th and 99th percentiles of the total time of {what} (first byte of "
        "the name lookup to the last byte of the body), per target and vantage, from the "
        f"histogram headroom_http_request_duration_seconds{{method=\"{method}\", "
        'phase="total"} over the rate interval (histogram_quantile: interpolated inside '
        "the bucket the percentile falls in). Compare the vantages of one target to tell a "
        "slow server (every vantage slow) from a slow path (one vantage slow). The dashed "
        f"lines are {check}'s thresholds for the p95 (WARNING above 1 s, CRITICAL above 3 s); "
        "the check itself judges the p95 over the target's window (the panel 'p95 as the "
        "checks judge it').",
        "s",
        [
            q(_quantile(0.5, method), f"{ENDPOINT_LEGEND} p50"),
            q(_quantile(0.95, method), f"{ENDPOINT_LEGEND} p95"),
            q(_quantile(0.99, method), f"{ENDPOINT_LEGEND} p99"),
        ],
        thresholds=_p95_thresholds(check),
    )


def latency_row() -> Row:
    judged = "target_method:headroom_http_request_duration_seconds:p95_rate5m"
    return Row(
        "Latency",
        [
            _percentiles("GET", "WEBDAV_GET_LATENCY", "each GET (a download)"),
            _percentiles("PUT", "WEBDAV_PUT_LATENCY", "each PUT (an upload)"),
            timeseries(
                "PUT and GET p95 as the alerts judge it",
                "The 95th percentile of the total PUT and GET time over the last 5 minutes, "
                "per target and vantage (target_method:headroom_http_request_duration_seconds"
                ":p95_rate5m, the recording rule HeadroomWebDAVPutSlow and HeadroomWebDAVGetSlow "
                "judge). The dashed lines are their thresholds: warning above 1 s for 15 "
                "minutes, critical above 3 s for 5 minutes.",
                "s",
                [q(_http(judged, 'method=~"PUT|GET"'), "{{method}} " + ENDPOINT_LEGEND)],
                thresholds=checks.thresholds(P95_STEPS),
            ),
            bargauge(
                "p95 as the checks judge it",
                "The 95th percentile of the total PUT and GET time over each target's window, "
                "as the agent computes it from its latest requests "
                "(headroom_http_request_duration_window_seconds{percentile=\"95\"}): what "
                "WEBDAV_PUT_LATENCY and WEBDAV_GET_LATENCY compare with their thresholds "
                "(WARNING above 1 s, CRITICAL above 3 s), now.",
                "s",
                [
                    q(
                        _http("headroom_http_request_duration_window_seconds", 'method=~"PUT|GET"', 'percentile="95"'),
                        "{{method}} " + ENDPOINT_LEGEND,
                        instant=True,
                    )
                ],
                thresholds=_p95_thresholds("WEBDAV_PUT_LATENCY"),
                min=0,
            ),
        ],
    )


def _phases(method: str) -> Cell:
    def mean(phase_matcher: str) -> str:
        def part(suffix: str) -> str:
            selector = sel(f"headroom_http_request_duration_seconds_{suffix}", IN_VANTAGE, f'method="{method}"', phase_matcher)
            r = in_region(f"rate({selector}[{RATE}])")
            return f"sum by (phase) ({r})"

        return f"{part('sum')} / {part('count')}"

    return timeseries(
        f"{method} latency by phase",
        f"Where the time of a {method} goes: the mean time of each phase over the rate "
        "interval (headroom_http_request_duration_seconds, sum over count), stacked in the "
        "order a request goes through them: resolve (DNS), connect (TCP), tls (handshake), "
        "processing (request sent to first byte of the response: the server's work) and "
        "transfer (the body). The top of the stack is the mean total. Selected targets and "
        "vantages are pooled: choose one of each to read one endpoint from one place. A "
        "phase that grows at one vantage only points at the network there.",
        "s",
        [q(mean(f'phase=~"{"|".join(PHASES)}"'), "{{phase}}")],
        stack=True,
        fill=60,
        legend_calcs=("mean", "max"),
        w=12 if method in ("GET", "PUT") else 8,
    )


def phases_row() -> Row:
    # GET and PUT, what the checks judge, side by side and wider; the others below.
    return Row("Latency by phase", [_phases(m) for m in ("GET", "PUT", "HEAD", "DELETE", "PROPFIND")])


SUCCESS_MAP = value_map([(0, "FAILED", checks.CRITICAL), (1, "OK", checks.OK)])
SUCCESS_STEPS = [(None, checks.CRITICAL), (1, checks.OK)]


def availability_row() -> Row:
    return Row(
        "Probes and round trips",
        [
            stat(
                "Probes failing",
                "Selected probes whose latest attempt failed (probe_success == 0, counted per "
                "target and vantage): a wrong status code, a timeout, a body or regex "
                "mismatch, a redirect loop, no connection. HeadroomHTTPProbeFailing fires after "
                "5 minutes of it.",
                "none",
                [q(f"count({_http('probe_success')} == 0) or vector(0)", "failing", instant=True)],
                thresholds=checks.thresholds([(None, checks.OK), (1, checks.CRITICAL)]),
                color_mode=common.BigValueColorMode.BACKGROUND,
                decimals=0,
                w=6,
                h=8,
            ),
            state_timeline(
                "Probe success",
                "Whether each probe's latest attempt succeeded, over time (probe_success: OK "
                "green, FAILED red), per target and vantage. A target red from every vantage "
                "is down; red from one vantage is the path from there.",
                "none",
                [q(_http("probe_success"), ENDPOINT_LEGEND)],
                mappings=[SUCCESS_MAP],
                thresholds=checks.thresholds(SUCCESS_STEPS),
                w=18,
                h=8,
            ),
            state_timeline(
                "Round trips",
                "Whether each WebDAV round trip succeeded, over time "
                "(headroom_http_roundtrip_success: a PUT of a unique object, a GET of it "
                "compared byte for byte, its DELETE; OK green, FAILED red), per target and "
                "vantage. WEBDAV_ROUNDTRIP is CRITICAL on a failure; HeadroomWebDAVRoundTripFailing "
                "fires after 5 minutes of them. Round-trip failures by reason says which step.",
                "none",
                [q(_http("headroom_http_roundtrip_success"), ENDPOINT_LEGEND)],
                mappings=[SUCCESS_MAP],
                thresholds=checks.thresholds(SUCCESS_STEPS),
                w=24,
                h=6,
            ),
        ],
    )


# Status classes, coloured as a user feels them.
STATUS_COLOURS = [
    by_regexp(r".* 2\d\d", color={"mode": "fixed", "fixedColor": checks.OK}),
    by_regexp(r".* 3\d\d", color={"mode": "fixed", "fixedColor": "blue"}),
    by_regexp(r".* 4\d\d", color={"mode": "fixed", "fixedColor": "orange"}),
    by_regexp(r".* 5\d\d", color={"mode": "fixed", "fixedColor": checks.CRITICAL}),
]


def status_row() -> Row:
    return Row(
        "Status codes",
        [
            timeseries(
                "Responses by status code",
                "Responses per minute by method and status code over the rate interval "
                "(headroom_http_requests_total{method, code}), selected targets and vantages "
                "together, stacked: 2xx green, 3xx blue, 4xx orange, 5xx red. A 401 or 403 is "
                "the probe's credentials; a 5xx the server; a 507 a full WebDAV store.",
                PER_MINUTE,
                [q(_per_minute("headroom_http_requests_total", "method, code"), "{{method}} {{code}}")],
                stack=True,
                fill=40,
                overrides=STATUS_COLOURS,
            ),
            bargauge(
                "Last status code",
                "The status code of each probe's latest response, per target, vantage and "
                "method (probe_http_status_code; 0 when no response came: a timeout or no "
                "connection). Red below 200 or from 500, yellow for 4xx, green otherwise; "
                "whether the code is one the target expects is the probe's own judgement "
                "(Probe success).",
                "none",
                [q(_http("probe_http_status_code"), "{{method}} " + ENDPOINT_LEGEND, instant=True)],
                thresholds=checks.thresholds(
                    [(None, checks.CRITICAL), (200, checks.OK), (400, checks.WARNING), (500, checks.CRITICAL)]
                ),
                decimals=0,
            ),
        ],
    )


def failures_row() -> Row:
    return Row(
        "Failures",
        [
            timeseries(
                "Round-trip failures by reason",
                "Failed WebDAV round trips per minute over the rate interval, by reason, per "
                "target and vantage (headroom_http_roundtrip_failures_total{reason}): the step "
                "that failed and why, e.g. body_mismatch when the GET returned other bytes "
                "than the PUT stored, status when a step got an unexpected code, timeout.",
                PER_MINUTE,
                [
                    q(
                        _per_minute("headroom_http_roundtrip_failures_total", f"{PER_ENDPOINT}, reason"),
                        "{{reason}} " + ENDPOINT_LEGEND,
                    )
                ],
                overrides=[by_regexp("body_mismatch .*", color={"mode": "fixed", "fixedColor": checks.CRITICAL})],
            ),
            timeseries(
                "Request failures by reason",
                "Failed requests per minute over the rate interval, by method and reason, "
                "selected targets and vantages together "
                "(headroom_http_request_failures_total{method, reason}): resolve (DNS), "
                "connect, tls (handshake or certificate), timeout, status (not an expected "
                "code), body_mismatch, regex (the body did not match), redirect_loop, "
                "protocol (not HTTP).",
                PER_MINUTE,
                [q(_per_minute("headroom_http_request_failures_total", "method, reason"), "{{method}} {{reason}}")],
            ),
        ],
    )


# The tls source knows no vantage: each agent polls the certificate of every https endpoint it
# probes (the tls target `<http target>/certificate`), so its series are told apart by the
# agent's `instance`, not by `vantage`.
CERTIFICATE = "/certificate"
CERT_LEGEND = "{{target}} ({{instance}})"


def _cert(metric: str) -> str:
    return in_region(sel(metric, suffix=CERTIFICATE))


def _leaf_cells(w: int) -> list[Cell]:
    return [
        stat(
            "Leaf certificate expires",
            "The date the server certificate (the leaf) of each probed HTTPS endpoint expires "
            "(headroom_tls_certificate_not_after_timestamp_seconds, its notAfter), per agent. "
            "Each https probe adds a tls target named <http target>/certificate.",
            "dateTimeAsIso",
            [q(f"{_cert('headroom_tls_certificate_not_after_timestamp_seconds')} * 1000", CERT_LEGEND, instant=True)],
            text_mode=common.BigValueTextMode.VALUE_AND_NAME,
            color_mode=common.BigValueColorMode.NONE,
            w=w,
            h=8,
        ),
    ]


def chain_cells(w: int) -> list[Cell]:
    """The whole served chain: the earliest expiry of it (what ELB_CERTIFICATE counts and the
    certificate alerts fire on) and every certificate's days left, named."""
    return [
        bargauge(
            "Chain: days to the earliest expiry",
            "Days until the first certificate the server sends (leaf or intermediate) expires "
            "(headroom_tls_chain_expiry_seconds / 86400), per probed HTTPS endpoint and agent. "
            "Colours are ELB_CERTIFICATE's, which counts the same certificate: WARNING below 30 "
            "days, CRITICAL below 15. The next panel names the certificate.",
            DAYS,
            [q(f"{_cert('headroom_tls_chain_expiry_seconds')} / 86400", CERT_LEGEND, instant=True)],
            thresholds=checks.check_thresholds("ELB_CERTIFICATE"),
            decimals=1,
            min=0,
            w=w,
        ),
        bargauge(
            "Chain: days left per certificate",
            "Days left on each certificate the server sends, by its position in the chain (0 "
            "is the leaf) and subject CN "
            "(headroom_tls_chain_certificate_not_after_timestamp_seconds - time()): an "
            "intermediate expiring before the leaf shows here first.",
            DAYS,
            [
                q(
                    f"({_cert('headroom_tls_chain_certificate_not_after_timestamp_seconds')} - time()) / 86400",
                    "{{target}} #{{position}} {{subject_cn}} ({{instance}})",
                    instant=True,
                )
            ],
            thresholds=checks.check_thresholds("ELB_CERTIFICATE"),
            decimals=1,
            w=w,
        ),
    ]


def certificates_row() -> Row:
    return Row("Certificates", chain_cells(9) + _leaf_cells(6))


BOARD = Board(
    uid="headroom-webdav",
    title="headroom / WebDAV and HTTP",
    description="What the http probes measure from each vantage: GET and PUT latency percentiles, latency by phase, status codes, probe and round-trip success, failures by reason, and certificate days left.",
    sources=("http",),
    rows=[latency_row, phases_row, availability_row, status_row, failures_row, certificates_row],
    extra_variables=[variables.vantage],
)
