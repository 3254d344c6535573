"""SPEC 10, quiet when idle: no polling, so an idle node uses no CPU, even
with a directory tree watched, a peer connected, and a path the peer's
config refuses (which must not be retried in a loop)."""

import os
import time
import unittest

from harness import ClusterTestCase

TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


class IdleTest(ClusterTestCase):

    def test_idle_nodes_use_no_cpu(self):
        c = self.cluster(sync=[{"path": "/etc/tree", "exclude": []}])
        os.makedirs(c.disk("a", "/etc/tree/sub"))
        for i in range(200):
            with open(c.disk("a", f"/etc/tree/sub/f{i}"), "w") as f:
                f.write(f"{i}\n")
        # b refuses one path a sends: a must not retry it forever
        c.sync = [{"path": "/etc/tree", "exclude": ["refused.conf"]}]
        c.write_config("b")
        c.sync = [{"path": "/etc/tree", "exclude": []}]
        c.start_all()
        c.wait_connected()
        c.write("a", "/etc/tree/refused.conf", b"b does not sync this\n")
        c.wait_content("b", "/etc/tree/sub/f199", b"199\n")
        c.wait_until(lambda: "refused" in [p["state"] for p in c.status("a")[1]["paths"]],
                     what="a to record b's refusal")
        # Let the catch-up's own work finish, settle timers included (the
        # longest is 1 s): wait for one quiet 1.5 s window; a polling daemon
        # never gets there.
        def quiet():
            start = {n: cpu_ticks(c.pid(n)) for n in ("a", "b")}
            time.sleep(1.5)
            return all(cpu_ticks(c.pid(n)) == start[n] for n in ("a", "b"))
        c.wait_until(quiet, timeout=20, what="both daemons to go quiet")
        before = {n: cpu_ticks(c.pid(n)) for n in ("a", "b")}
        logged = {n: os.path.getsize(c.node(n).log) for n in ("a", "b")}
        time.sleep(3)  # the measurement window, not a synchronisation
        used = {n: cpu_ticks(c.pid(n)) - before[n] for n in ("a", "b")}
        for n in ("a", "b"):
            self.assertLessEqual(used[n], 1, f"{n} used {used[n] / TICK:.2f} s of CPU in 3 s idle")
            # a retry loop or a periodic task would log: nothing may happen
            self.assertEqual(os.path.getsize(c.node(n).log), logged[n],
                             f"{n} logged while idle:\n" + c.diagnostics())


if __name__ == "__main__":
    unittest.main(verbosity=2)
