"""SPEC 6, issue 11: the conflict rule (the later change wins) compares the
wall clocks of different nodes, so a node whose clock runs an hour ahead
would win every real conflict, even with an older edit. Peers compare
clocks at connect: a skew beyond a few seconds is shown by `status` on both
nodes, with the remedy, and logged.

Node b runs under Debian's libfaketime (package faketime), its wall clock an
hour ahead; its monotonic clock is left alone.
"""

import os
import re
import unittest

from harness import ClusterTestCase
from lossutil import log_lines

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
P = "/etc/app.conf"


class ClockSkewTest(ClusterTestCase):

    def test_an_hour_of_skew_is_shown_on_both_nodes(self):
        self.assertTrue(os.path.exists(LIBFAKETIME),
                        f"{LIBFAKETIME} is missing: install the faketime package (scripts/deps.sh)")
        c = self.cluster(sync=[{"path": P}])
        c.start("a")
        # Under ASan (scripts/test.sh's second pass) the sanitizer's runtime
        # must come first among preloaded libraries unless told otherwise.
        asan = os.environ.get("ASAN_OPTIONS", "")
        c.start("b", env={"LD_PRELOAD": LIBFAKETIME, "FAKETIME": "+1h",
                          "DONT_FAKE_MONOTONIC": "1",
                          "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"})
        ahead = re.compile(r"the clock of b is 3[56]\d\d s ahead of this node's.*NTP")
        behind = re.compile(r"the clock of a is 3[56]\d\d s behind this node's.*NTP")

        def shown(node, pattern):
            rc, st = c.status(node)
            return rc == 1 and any(pattern.search(p) for p in (st or {}).get("problems", []))
        c.wait_until(lambda: shown("a", ahead), timeout=15,
                     what="a's status to name b's clock an hour ahead, with the remedy")
        c.wait_until(lambda: shown("b", behind), timeout=15,
                     what="b's status to name a's clock an hour behind, with the remedy")
        _, st = c.status("a")
        skew = {p["name"]: int(p["clock_skew_ms"]) for p in st["peers"]}
        self.assertGreater(skew["b"], 3500 * 1000)
        self.assertTrue(log_lines(c, "a", "clock of b"), "a's log does not mention the skew")


if __name__ == "__main__":
    unittest.main(verbosity=2)
