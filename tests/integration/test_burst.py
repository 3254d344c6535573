"""A burst of edits (SPEC behaviours 1-3): 30 edits 0.2 s apart on node a,
alternating same-size in-place writes and rename-into-place saves. Every one
of them must reach b: b keeps 64 generations, so its history must hold all 30
contents, in order. (The 0.2 s pauses pace the edits; they are not used to
synchronise with the daemon.)"""

import time
import unittest

from harness import ClusterTestCase, sha256_hex

P = "/etc/app.conf"
N = 30


class BurstTest(ClusterTestCase):

    def test_burst_of_30_edits(self):
        c = self.started_cluster(sync=[{"path": P}], generations=64)
        seed = b"listen=0.0.0.0\nport=7999\n"
        c.write("a", P, seed)
        c.wait_content("b", P, seed)
        start_counter = c.counter("a", P, "a")

        sent = []
        t_next = time.monotonic()
        for i in range(N):
            data = f"listen=0.0.0.0\nport={8000 + i}\n".encode()  # same size every time
            assert len(data) == len(seed)
            if i % 2 == 0:
                c.write("a", P, data, truncate=False)  # overwrite the same inode, same size
            else:
                c.rename_write("a", P, data)
            sent.append(data)
            t_next += 0.2
            time.sleep(max(0.0, t_next - time.monotonic()))

        c.wait_content("b", P, sent[-1])
        self.assertEqual(c.read("a", P), sent[-1])
        want = [sha256_hex(d) for d in sent]

        def b_has_all():
            oldest_first = list(reversed(c.history_hashes("b", P)))
            return oldest_first[-N:] == want

        c.wait_until(b_has_all, what=lambda: "b's history to hold all 30 contents in order; missing: "
                     + str(self._missing(c, "b", sent)))
        hist_b = c.history_hashes("b", P)
        self.assertEqual(hist_b[N], sha256_hex(seed), "generation before the burst on b")
        self.assertEqual(len(hist_b), N + 1, "one generation per edit on b (and no more)")
        c.wait_until(lambda: c.history_hashes("a", P) == hist_b,
                     what="a's history to equal b's")
        # exactly one version per edit, on both nodes
        self.assertEqual(c.counter("a", P, "a"), start_counter + N)
        c.wait_until(lambda: c.counter("b", P, "a") == start_counter + N,
                     what=lambda: f"vv[a] on b to be {start_counter + N}")
        c.wait_until(lambda: c.stat("b", P).st_mtime_ns == c.stat("a", P).st_mtime_ns,
                     what="final mtime equal on b")
        c.wait_in_sync()

    @staticmethod
    def _missing(c, node, sent):
        try:
            have = set(c.history_hashes(node, P))
        except AssertionError as e:
            return str(e)
        return [d.decode().split("\n")[1] for d in sent if sha256_hex(d) not in have]


if __name__ == "__main__":
    unittest.main(verbosity=2)
