"""Shared building blocks of headroom's Grafana dashboards (see docs/dashboards.md):

- checks:    panel thresholds read from the shipped checks (checks/*.yaml)
- promql:    selectors, the region filter, the variables' substitution contract
- variables: the datasource, region and target template variables
- panels:    panel helpers (a description and a unit are required), mappings, transformations
- layout:    Board and Row, grid layout, dashboard assembly
- render:    the JSON written to disk
- validate:  the SDK model round trip and the house rules --check enforces
"""
