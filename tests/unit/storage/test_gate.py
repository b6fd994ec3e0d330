import threading
import time

from spyglass.storage.olap.gate import VisibilityGate


def test_readers_wait_for_a_write_and_writes_wait_for_readers():
    gate, events = VisibilityGate(), []
    writing = threading.Event()

    def writer():
        with gate.writing():
            writing.set()
            time.sleep(0.2)
            events.append("write done")

    thread = threading.Thread(target=writer)
    thread.start()
    writing.wait()
    with gate.reading():
        events.append("read")
    thread.join()
    assert events == ["write done", "read"]


def test_reads_are_reentrant_within_a_thread():
    gate = VisibilityGate()
    with gate.reading(), gate.reading():
        pass
    with gate.writing():  # not left half-held by the nested read
        pass
