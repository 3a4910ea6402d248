"""Offline Sentinel-2-like test world for `cube`: generator, servers' helpers and the
independent reference cube. See docs/test-world.md."""
