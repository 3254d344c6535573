"""A file a writer still has open is not sent half-written, even when the
daemon finds it by listing a directory rather than through its own events.

A directory made a moment ago is scanned by listing it: files may have been
created in it before its watch existed, and no event will ever name them.
Such a file can still be open in the program writing it (tar, cp -r, an
installer). Before the fix the listing read whatever had been written so far,
recorded it as a version, sent it to the peers and ran their actions on it;
the rest followed as a second version. Now a listed file that some process
has open for writing (the kernel refuses a read lease on it) is left to its
writer's close-write, which the new watch does see.

The same holds at start-up: a file some service has open for writing when
the daemon starts is put off too, and is still part of the first scan's
baseline when it is read (no actions run for it), like every other file
found at the first start.

Two nodes a and b joined by the exec transport, one directory entry."""

import os
import threading
import unittest

from harness import ClusterTestCase, find_path, sha256_hex

ENTRY = "/srv/site"


class OpenWriterTest(ClusterTestCase):

    def test_file_open_for_writing_in_a_new_directory_is_sent_once_whole(self):
        c = self.started_cluster(sync=[{"path": ENTRY}], dirs=[ENTRY])
        new_dir, path = f"{ENTRY}/new", f"{ENTRY}/new/app.conf"
        first, second = b"first half of the file\n", b"second half of the file\n"

        os.mkdir(c.disk("a", new_dir))
        with open(c.disk("a", path), "wb") as writer:  # created before the watch, most likely
            writer.write(first)
            writer.flush()
            # The writer keeps writing while we look, as a slow writer does:
            # without that, a check slower than the 1 s an idle open file is
            # given would let the daemon read the file mid-write on purpose.
            stop = threading.Event()

            def keep_writing():
                while not stop.wait(0.1):
                    writer.write(b".")
                    writer.flush()

            pacer = threading.Thread(target=keep_writing)
            pacer.start()
            try:
                # a records the directory in the scan that lists it: once the
                # directory is in a's status, that listing has happened.
                c.wait_until(lambda: find_path(c.status("a")[1], new_dir),
                             what=f"a to record {new_dir}")
                self.assertIsNone(find_path(c.status("a")[1], path),
                                  f"a recorded {path} while a writer still had it open")
            finally:
                stop.set()
                pacer.join()
            writer.write(second)

        whole = c.read("a", path)
        self.assertTrue(whole.startswith(first) and whole.endswith(second), whole)
        c.wait_content("b", path, whole)
        for n in c.names:
            hashes = c.history_hashes(n, path)
            self.assertEqual(hashes, [sha256_hex(whole)],
                             f"{n} kept a version other than the whole file "
                             f"(a half-written one was sent): {hashes}")

    def test_file_open_for_writing_at_first_start_stays_baseline(self):
        runs = "echo run: $SYNCR_CHANGED >> @TMP@/@NODE@-runs.log"
        c = self.cluster(sync=[{"path": ENTRY, "actions": [runs]}])
        os.makedirs(c.disk("a", ENTRY))
        done, busy = f"{ENTRY}/done.conf", f"{ENTRY}/busy.conf"
        c.write("a", done, b"written before the start\n")
        with open(c.disk("a", busy), "wb") as writer:
            writer.write(b"first half\n")
            writer.flush()
            c.start("a")  # returns after the first scan, which met the writer
            self.assertIsNone(c.path_status("a", busy),
                              f"a's first scan recorded {busy} while it was being written")
            writer.write(b"second half\n")
        c.wait_until(lambda: (c.path_status("a", busy) or {}).get("version", {}).get("hash"),
                     what=f"a to record {busy} once its writer closed it")
        # An edit after the start runs the entry's action: the one run there
        # is must be for it, not for the file put off at start.
        c.write("a", done, b"edited after the start\n")
        c.wait_until(lambda: c.lines("a", "runs.log"), what="the action run for the edit")
        self.assertEqual(c.lines("a", "runs.log"), [f"run: {done}"],
                         "an action ran for a file of the first scan's baseline")


if __name__ == "__main__":
    unittest.main(verbosity=2)
