import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `-o writeback_cache` (offered by `vfsmount --help`): the kernel caches writes and
/// sends them later, reads pages through write-only handles, and owns mtime. The
/// results must still be tmpfs's.
final class WritebackCacheTests: ConformanceTestCase {
  override class var mountOptions: [String] { super.mountOptions + ["writeback_cache"] }

  func testWritesIntoAGrownFileThroughWriteOnlyDescriptors() {
    sideBySide { t in
      _ = t.put("f", "")
      t.check("truncate up", t.truncate("f", 100_000), "OK")
      t.check(
        "O_WRONLY pwrite inside the grown range",
        t.withFD("f", O_WRONLY) { pwrite($0, Array("mid".utf8), at: 5_000) }, "OK")
      t.check(
        "O_WRONLY pwrite at the end",
        t.withFD("f", O_WRONLY) { pwrite($0, Array("end".utf8), at: 99_997) }, "OK")
      t.check("O_APPEND write", t.put("f", "tail", flags: O_WRONLY | O_APPEND), "OK")
      let b = t.bytes("f")
      t.check("size", b.count, 100_004)
      t.check(
        "content",
        b.count == 100_004 ? String(decoding: b[5_000..<5_003] + b[99_997...], as: UTF8.self) : "",
        "midendtail")
      t.check(
        "shell append to a sparse file",
        t.sh("truncate -s 70000 s && printf tail >> s && stat -c %s s").out, "70004")
    }
  }

  func testExplicitTimesSurviveCachedWrites() {
    sideBySide { t in
      let when = timespec(tv_sec: 1_500_000_000, tv_nsec: 250_000_000)
      t.check(
        "write, then utimensat before close (cp -a's order)",
        t.withFD("f", O_WRONLY | O_CREAT, 0o644) { fd -> String in
          _ = writeAll(fd, [UInt8](repeating: 1, count: 300_000))
          var ts = [when, when]
          return result(futimens(fd, &ts))
        }, "OK")
      t.check("mtime after close", t.lstat("f")?.mtime.description, "1500000000.250000000")
      t.check(
        "mtime a moment later",
        {
          usleep(1_200_000)
          return t.lstat("f")?.mtime.description
        }(), "1500000000.250000000")
      t.check(
        "cp -a keeps times",
        t.sh("touch -d '2018-01-01 00:00:00.5' f && cp -a f g && stat -c %y g").out,
        "2018-01-01 00:00:00.500000000 +0000")
      t.check("st_blocks counts written pages", t.blocks("f"), 592)
      t.check(
        "st_blocks of a sparse write",
        t.withFD("s", O_WRONLY | O_CREAT, 0o644) { pwrite($0, [1], at: 1 << 20) } == "OK"
          ? t.blocks("s") : -1, 8)
    }
    // With the writeback cache the page stays in the kernel until it is
    // written back, so st_blocks counts it only then (README).
    let fd = Glibc.open(vfsSide.p("o"), O_WRONLY | O_CREAT, 0o644)
    XCTAssertEqual(pwrite(fd, [1], at: 1 << 20), "OK")
    XCTAssertEqual(fsync(fd), 0)
    // As many as the reference's same write ("s"): on tmpfs 8, on ext2 16 (the
    // page and the indirect block that maps it).
    XCTAssertEqual(vfsSide.blocks("o"), tmpfsSide.blocks("s"), "st_blocks after fsync")
    close(fd)
  }

  func testSetgidClearedByANonMembersWrite() {
    sideBySide { t in
      t.put("g", "original")
      _ = t.chmod("g", 0o2767)
      t.put("u", "original")
      _ = t.chmod("u", 0o6777)
      t.check("write by a non-owner", t.probe(["write", "@u", "Y"]), ["OK"])
      t.check("setuid and setgid cleared", t.mode("u"), "reg 777")
      t.put("x", "original")
      _ = t.chmod("x", 0o2777)
      t.check("write by a non-member, group execute", t.probe(["write", "@x", "Y"]), ["OK"])
      t.check("setgid with group execute cleared", t.mode("x"), "reg 777")
    }
    // Without group execute, Linux 6 clears setgid on a non-member's write
    // too; with the writeback cache the write reaches vfsmount with no
    // caller, so on libfuse's engine the bit stays (README "Known
    // differences"). The native engine agrees HANDLE_KILLPRIV_V2: the
    // kernel then asks for the kill itself, and the bit goes as on tmpfs.
    tmpfsSide.put("g", "original")
    vfsSide.put("g", "original")
    _ = tmpfsSide.chmod("g", 0o2767)
    _ = vfsSide.chmod("g", 0o2767)
    XCTAssertEqual(tmpfsSide.probe(["write", "@g", "Y"]), ["OK"])
    XCTAssertEqual(vfsSide.probe(["write", "@g", "Y"]), ["OK"])
    XCTAssertEqual(tmpfsSide.mode("g"), "reg 767")
    XCTAssertEqual(vfsSide.mode("g"), testUsesNativeEngine ? "reg 767" : "reg 2767")
  }
}

/// `-o writeback_cache,size=1m`: the kernel takes writes into its cache before
/// memfs sees them, so ENOSPC reaches the writer at fsync (as on NFS), not at
/// write(); and nothing past the limit is stored (README "Known differences").
final class WritebackCacheSizeLimitTests: ConformanceTestCase {
  override class var mountOptions: [String] { super.mountOptions + ["writeback_cache", "size=1m"] }
  override class var tmpfsOptions: [String] { ["size=1m"] }

  func testENOSPCReachesTheWriterAtFsync() {
    let chunk = [UInt8](repeating: 0x5A, count: 64 * 1024)
    func fill(_ side: Side) -> (written: Int, writeError: String, fsyncError: String) {
      let fd = Glibc.open(side.p("big"), O_WRONLY | O_CREAT, 0o644)
      defer { close(fd) }
      var written = 0
      var error = "none"
      while written < 4 << 20 {
        let n = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 {
          error = errnoName(errno)
          break
        }
        written += n
      }
      return (written, error, result(fsync(fd)))
    }
    let onTmpfs = fill(tmpfsSide)
    XCTAssertEqual(onTmpfs.writeError, "ENOSPC", "tmpfs: write() reports ENOSPC")
    XCTAssertEqual(tmpfsSide.size("big"), onTmpfs.written)
    let onVfs = fill(vfsSide)
    XCTAssertEqual(onVfs.fsyncError, "ENOSPC", "vfsmount: the cached writes fail at fsync")
    // The kernel may still cache pages it could not write: read what memfs holds.
    _ = vfsSide.sh("sync; echo 3 > /proc/sys/vm/drop_caches")
    let stored = vfsSide.bytes("big")
    XCTAssertLessThanOrEqual(
      stored.filter { $0 == 0x5A }.count, 1 << 20, "no more than size= is stored")
    XCTAssertGreaterThan(stored.filter { $0 == 0x5A }.count, 0, "what fitted is stored")
  }
}
