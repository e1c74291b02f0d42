import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The kernel's page cache above a vfsmount must never show old bytes. tmpfs
/// has no cache apart from its data, so it never does.
final class CoherenceTests: MountTestCase {
  /// Buffered readers hammer a file while fio writes every block of it once
  /// with AIO O_DIRECT; then a buffered read must equal a direct read.
  ///
  /// Before the fix, a block was stale in about one round in three here: the
  /// kernel drops the cached range before it sends an asynchronous direct
  /// write but not after, so a READ served in between cached the old bytes,
  /// and memfs's keep_cache kept them. A race cannot be forced from user
  /// space, so this test runs several rounds; it can only pass by luck.
  func testBufferedReadAfterAIODirectWritesIsNeverStale() throws {
    guard let fio = which("fio") else {
      if Self.isCI { XCTFail("fio is not installed (scripts/install-deps)") }
      throw XCTSkip("fio is not installed")
    }
    let script = """
      import os, sys, subprocess, mmap, random, time
      fio, path, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
      size = 1 << 20
      stale = 0
      for rnd in range(rounds):
          old, new = 0x61 + rnd % 2, 0x63 + rnd % 2
          with open(path, 'wb') as f:
              f.write(bytes([old]) * size)
          readers = []
          for k in range(3):
              pid = os.fork()
              if pid == 0:
                  fd = os.open(path, os.O_RDONLY)
                  end = time.monotonic() + 1.2
                  while time.monotonic() < end:
                      os.pread(fd, 4096, random.randrange(0, size // 4096) * 4096)
                  os._exit(0)
              readers.append(pid)
          r = subprocess.run([fio, '--name=w', '--filename=' + path, '--ioengine=libaio',
              '--direct=1', '--rw=randwrite', '--bs=4k', '--iodepth=64', '--size=%d' % size,
              '--buffer_pattern=0x%02x' % new, '--minimal'], capture_output=True, text=True)
          for p in readers:
              os.waitpid(p, 0)
          assert r.returncode == 0, r.stderr
          buffered = open(path, 'rb').read()
          fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
          m = mmap.mmap(-1, size)
          os.preadv(fd, [m], 0)
          os.close(fd)
          assert bytes(m) == bytes([new]) * size, 'a direct read misses a direct write'
          stale += sum(1 for i in range(0, size, 4096) if buffered[i:i + 4096] != bytes(m)[i:i + 4096])
      print(stale)
      """
    for (side, dir) in [("tmpfs", tmpfs.path), ("vfsmount", vfs.path)] {
      let r = runCommand(
        "/usr/bin/python3", ["-c", script, fio, dir + "/f", "5"], timeout: 120)
      XCTAssertEqual(r.status, 0, "\(side): \(r.stderr.suffix(2000))")
      XCTAssertEqual(
        r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0",
        "\(side): 4 KiB blocks a buffered read found stale")
    }
  }
}
