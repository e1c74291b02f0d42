import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Faults: signals to the daemon under load, a killed daemon, an interrupted
/// reader, and the checker while an eviction is under way.
final class FaultTests: XCTestCase {
  var mounts: [VfsMount] = []
  var extraDaemons: [(Child, String)] = []
  var loads: [Child] = []

  override func setUpWithError() throws {
    try super.setUpWithError()
    guard access("/dev/fuse", F_OK) == 0 else {
      if MountTestCase.isCI { XCTFail("/dev/fuse is missing") }
      throw XCTSkip("/dev/fuse is missing")
    }
  }

  override func tearDownWithError() throws {
    for load in loads {
      load.signal(SIGKILL)
      load.wait(timeout: 5)
    }
    for (daemon, path) in extraDaemons {
      if MountInfo.at(path)?.fsType.hasPrefix("fuse") ?? false {
        runCommand("fusermount3", ["-u", "-z", path], timeout: 10)
      }
      if daemon.wait(timeout: 5) == nil {
        daemon.signal(SIGKILL)
        daemon.wait(timeout: 5)
      }
    }
    for m in mounts { m.unmount() }
    loads = []
    extraDaemons = []
    mounts = []
    try super.tearDownWithError()
  }

  func mount(_ options: [String] = ["allow_other"]) throws -> VfsMount {
    do {
      let m = try VfsMount(options: options)
      mounts.append(m)
      return m
    } catch {
      if MountTestCase.isCI { XCTFail("cannot mount: \(error)") }
      throw XCTSkip("cannot mount: \(error)")
    }
  }

  func verdict(_ m: String) -> String? {
    try? String(contentsOfFile: m + "/proc/vfs/check", encoding: .utf8)
  }

  /// A writer and a reader looping on the mount (files under `sub`, which is gone
  /// once the mount is, so nothing lands in the directory below).
  func startLoad(_ m: String) throws {
    XCTAssertEqual(mkdir(m + "/sub", 0o755), 0)
    loads.append(
      try Child(
        "/bin/sh",
        [
          "-c",
          "i=0; while :; do i=$((i+1)); dd if=/dev/zero of=$0/sub/w$((i%4)) bs=64k count=8 2>/dev/null || exit 0; done",
          m,
        ]))
    loads.append(
      try Child(
        "/bin/sh",
        [
          "-c",
          "while :; do cat $0/sub/w* >/dev/null 2>&1; ls -l $0/sub >/dev/null 2>&1 || exit 0; done",
          m,
        ]))
    usleep(800_000)
    var st = stat()
    XCTAssertEqual(stat(m + "/sub/w1", &st), 0, "the writer is writing")
  }

  // MARK: - Signals to the daemon

  func testSIGTERMUnderLoadUnmountsAndExitsZero() throws {
    let m = try mount()
    try startLoad(m.path)
    kill(m.pid, SIGTERM)
    let status = m.waitForExit(timeout: 20)
    XCTAssertEqual(status, 0, "vfsmount exit status after SIGTERM: \(m.stderr)")
    XCTAssertFalse(m.isMounted, "no mount left")
    // The load sees the mount go, and nothing was written below it.
    usleep(300_000)
    let below = (try? FileManager.default.contentsOfDirectory(atPath: m.path)) ?? ["?"]
    XCTAssertEqual(below, [], "the directory below the mount is untouched")
  }

  func testSIGINTUnderLoadUnmountsAndExitsZero() throws {
    let m = try mount()
    try startLoad(m.path)
    kill(m.pid, SIGINT)
    XCTAssertEqual(m.waitForExit(timeout: 20), 0, "vfsmount exit status after SIGINT: \(m.stderr)")
    XCTAssertFalse(m.isMounted)
  }

  /// SIGKILL leaves a dead mount (ENOTCONN); `fusermount3 -u` clears it, and a new
  /// vfsmount on the same directory works.
  func testKilledDaemonLeavesAMountThatFusermountClears() throws {
    let m = try mount()
    XCTAssertTrue(
      FileManager.default.createFile(atPath: m.path + "/before", contents: Data("x".utf8)))
    kill(m.pid, SIGKILL)
    XCTAssertNotNil(m.waitForExit(timeout: 10), "the daemon died")
    XCTAssertTrue(m.isMounted, "a dead mount is left behind")
    var st = stat()
    // On FUSE-over-io_uring the kernel closes the dead daemon's /dev/fuse only
    // when io_uring's deferred teardown of its ring drops the last reference, a
    // moment after the process is gone; a request sent in that window is ended
    // by the abort with ECONNABORTED (fuse_abort_conn() -> end_requests()).
    // Once the connection is down every call answers ENOTCONN.
    let downBy = Date().addingTimeInterval(10)
    var failure: Int32 = 0
    repeat {
      XCTAssertEqual(stat(m.path, &st), -1)
      failure = errno
      if failure == ECONNABORTED { usleep(10_000) }
    } while failure == ECONNABORTED && Date() < downBy
    XCTAssertEqual(failure, ENOTCONN, "the dead mount answers ENOTCONN, got \(errnoName(failure))")
    let u = runCommand("fusermount3", ["-u", m.path], timeout: 10)
    XCTAssertTrue(u.ok, "fusermount3 -u: \(u)")
    XCTAssertFalse(m.isMounted, "fusermount3 -u cleared it")
    XCTAssertEqual(stat(m.path, &st), 0)

    // A new daemon on the same directory.
    let daemon = try Child(vfsmountPath(), ["-f", "-o", "allow_other", m.path])
    extraDaemons.append((daemon, m.path))
    let deadline = Date().addingTimeInterval(15)
    while !(MountInfo.at(m.path)?.fsType.hasPrefix("fuse") ?? false), Date() < deadline,
      !daemon.hasExited
    {
      usleep(20_000)
    }
    XCTAssertTrue(
      MountInfo.at(m.path)?.fsType.hasPrefix("fuse") ?? false, "remounted: \(daemon.stderr)")
    XCTAssertTrue(
      FileManager.default.createFile(atPath: m.path + "/after", contents: Data("y".utf8)))
    XCTAssertEqual(try? String(contentsOfFile: m.path + "/after", encoding: .utf8), "y")
    XCTAssertEqual(access(m.path + "/before", F_OK), -1, "a fresh, empty file system")
    XCTAssertEqual(verdict(m.path), "ok\n")
    // It unmounts cleanly too.
    XCTAssertTrue(runCommand("fusermount3", ["-u", m.path], timeout: 10).ok)
    XCTAssertEqual(daemon.wait(timeout: 10), 0, "the second daemon exits 0: \(daemon.stderr)")
  }

  /// A reader blocked in a read of /dev/log (no record yet) is released by SIGINT:
  /// the kernel sends FUSE_INTERRUPT, the daemon ends the read with EINTR, and the
  /// mount goes on working.
  func testInterruptReleasesABlockedReader() throws {
    let m = try mount()
    let reader = try Child("/bin/cat", [m.path + "/dev/log"])
    loads.append(reader)
    usleep(700_000)
    XCTAssertFalse(reader.hasExited, "cat is blocked in read: \(reader.stderr)")
    kill(reader.pid, SIGINT)
    let status = reader.wait(timeout: 10)
    XCTAssertNotNil(status, "SIGINT released the blocked reader")
    XCTAssertEqual(status, 128 + SIGINT, "cat died of SIGINT")
    // Once more, with a second reader blocked at the same time as a first.
    let r1 = try Child("/bin/cat", [m.path + "/dev/log"])
    let r2 = try Child("/bin/cat", [m.path + "/dev/log"])
    loads += [r1, r2]
    usleep(500_000)
    kill(r1.pid, SIGINT)
    XCTAssertEqual(r1.wait(timeout: 10), 128 + SIGINT)
    XCTAssertFalse(r2.hasExited, "the other reader still waits")
    // A record wakes the other one.
    let w = sh("echo hello > \(shq(m.path + "/dev/log"))", timeout: 10)
    XCTAssertTrue(w.ok, "\(w)")
    usleep(300_000)
    XCTAssertTrue(r2.stdout.contains("hello"), "the second reader got the record: \(r2.stdout)")
    r2.signal(SIGINT)
    XCTAssertNotNil(r2.wait(timeout: 10))
    // The mount still serves, and the daemon kept nothing open.
    var st = stat()
    XCTAssertEqual(stat(m.path + "/dev/log", &st), 0)
    XCTAssertTrue(FileManager.default.createFile(atPath: m.path + "/f", contents: Data("z".utf8)))
    usleep(300_000)
    XCTAssertEqual(verdict(m.path), "ok\n")
    XCTAssertTrue(m.isMounted)
  }

  // MARK: - The checker while an inode is being evicted

  /// The last close of an unlinked 64 MiB file: the kernel sends RELEASE without
  /// waiting, so the daemon may free the 16,384 pages while the checker already runs.
  /// The checker must not report the inode being freed (the same race without a
  /// mount, between threads: HostileInputTests.testCheckerWhileAnotherThreadEvicts).
  func testCheckerDuringEviction() throws {
    let m = try mount()
    let path = m.path + "/big"
    let chunk = [UInt8](repeating: 0x78, count: 1 << 20)
    var verdicts: [String] = []
    for _ in 0..<3 {
      let fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0o644)
      XCTAssertGreaterThanOrEqual(fd, 0)
      for _ in 0..<64 {
        XCTAssertEqual(chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, chunk.count)
      }
      XCTAssertEqual(unlink(path), 0)
      close(fd)
      verdicts.append(verdict(m.path) ?? "unreadable")
    }
    XCTAssertEqual(verdicts, ["ok\n", "ok\n", "ok\n"], "proc/vfs/check right after the last close")
    usleep(500_000)
    XCTAssertEqual(verdict(m.path), "ok\n", "and once the eviction is over")
  }
}
