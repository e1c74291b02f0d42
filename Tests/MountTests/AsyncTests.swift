import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The slowfs example (Examples/slowfs) running as a child process: a file
/// system whose operations are async, with a backend that makes reads of
/// `slow` wait.
final class SlowfsMount {
  let path: String
  private let child: Child
  private var unmounted = false

  init(arguments: [String] = []) throws {
    path = try makeTempDir("slowfs")
    let executable = ((vfsmountPath() as NSString).deletingLastPathComponent as NSString)
      .appendingPathComponent("slowfs")
    do {
      child = try Child(executable, arguments + [path])
    } catch {
      rmdir(path)
      throw error
    }
    let deadline = Date().addingTimeInterval(15)
    while MountInfo.at(path)?.fsType.hasPrefix("fuse") != true {
      if child.wait(timeout: 0) != nil || Date() >= deadline {
        let err = child.stderr
        unmount()
        throw SupportError("slowfs did not mount: \(err)")
      }
      usleep(20_000)
    }
  }

  /// Unmounts, waits for the daemon (kills it if it lingers), aborts the
  /// connection if the mount is still there. Safe to call more than once.
  func unmount() {
    if unmounted { return }
    unmounted = true
    if MountInfo.at(path)?.fsType.hasPrefix("fuse") == true {
      let r = runCommand("fusermount3", ["-u", path], timeout: 10)
      if !r.ok { runCommand("umount", ["-l", path], timeout: 10) }
    }
    if child.wait(timeout: 10) == nil {
      child.signal(SIGKILL)
      child.wait(timeout: 5)
    }
    if let info = MountInfo.at(path), info.fsType.hasPrefix("fuse") {
      abortConnection(minor: info.minor)
      umount2(path, Int32(MNT_DETACH))
    }
    rmdir(path)
  }

  deinit { unmount() }
}

/// Async operations (the bridge serves them in Tasks, FUSE_INTERRUPT cancels
/// them) and cache invalidation, on slowfs.
final class AsyncTests: XCTestCase {
  var slowfs: SlowfsMount!

  func mount(_ arguments: [String]) throws {
    do {
      guard access("/dev/fuse", F_OK) == 0 else { throw SupportError("/dev/fuse is missing") }
      slowfs = try SlowfsMount(arguments: arguments)
    } catch {
      if ProcessInfo.processInfo.environment["CI"] == "true" { throw error }
      throw XCTSkip("cannot mount: \(error)")
    }
  }

  override func tearDown() {
    slowfs?.unmount()
    slowfs = nil
    super.tearDown()
  }

  /// open + read to EOF, nothing else (no fstat, which may refresh attributes).
  func read(_ name: String) -> String? {
    let fd = open("\(slowfs.path)/\(name)", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = Glibc.read(fd, &buffer, buffer.count)
      if n < 0 { return nil }
      if n == 0 { break }
      bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  func exists(_ name: String) -> Bool {
    var st = stat()
    return stat("\(slowfs.path)/\(name)", &st) == 0
  }

  /// Waits (bounded) until `inflight` says `n` slow reads wait in the backend.
  func waitForInflight(_ n: Int) -> Bool {
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
      if read("inflight") == "\(n)\n" { return true }
      usleep(10_000)
    }
    return false
  }

  func write(_ text: String, to name: String) -> Bool {
    let fd = open("\(slowfs.path)/\(name)", O_WRONLY)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    return Glibc.write(fd, text, text.utf8.count) == text.utf8.count
  }

  /// With the default delay (1 s), a read of `slow` completes with its data.
  func testSlowReadCompletes() throws {
    try mount([])
    XCTAssertEqual(read("slow"), "slow\n")
    XCTAssertEqual(read("cancellations"), "0\n")
  }

  /// While a read of `slow` waits in the backend, other requests (lookup,
  /// getattr, read of `fast`, readdir) are answered: with zero timeouts each
  /// of them reaches the daemon, and all complete before the slow read does.
  /// Then SIGINT ends the reader at once: FUSE_INTERRUPT cancelled the Task
  /// (the kernel waits for the reply before a killed reader may exit, so
  /// without the cancellation `cat` would wait out the 600 s).
  func testOtherRequestsAnswerWhileASlowReadWaits() throws {
    try mount(["--delay", "600", "--timeouts", "0"])
    let cat = try Child("/bin/cat", ["\(slowfs.path)/slow"])
    defer {
      cat.signal(SIGKILL)
      cat.wait(timeout: 5)
    }
    XCTAssertTrue(waitForInflight(1), "the slow read never reached the backend")

    for _ in 0..<20 {
      XCTAssertTrue(exists("fast"))
      XCTAssertEqual(read("fast"), "fast\n")
    }
    XCTAssertFalse(exists("missing"))
    let listing = try FileManager.default.contentsOfDirectory(atPath: slowfs.path)
    XCTAssertTrue(listing.contains("slow") && listing.contains("fast"), "\(listing)")

    // The ordering: all of that finished while the slow read still waits.
    XCTAssertEqual(read("inflight"), "1\n")
    XCTAssertFalse(cat.hasExited, "cat ended before the stats: \(cat.stdout)")

    cat.signal(SIGINT)
    XCTAssertNotNil(cat.wait(timeout: 30), "SIGINT did not end the slow read")
    XCTAssertEqual(read("cancellations"), "1\n")
    XCTAssertEqual(read("inflight"), "0\n")
    XCTAssertEqual(cat.stdout, "")
  }

  /// A signal with a handler (not fatal) interrupts the slow read too: the
  /// read(2) returns EINTR (Python raises the handler's exception only when
  /// the call is interrupted) and the backend counts the cancellation.
  func testSignalWithHandlerInterruptsTheRead() throws {
    guard let python = which("python3") else {
      if ProcessInfo.processInfo.environment["CI"] == "true" { return XCTFail("no python3") }
      throw XCTSkip("no python3")
    }
    try mount(["--delay", "600"])
    let script = """
      import os, signal, sys
      class Interrupted(Exception): pass
      def handler(*_): raise Interrupted()
      signal.signal(signal.SIGUSR1, handler)
      fd = os.open(sys.argv[1], os.O_RDONLY)
      try:
          os.read(fd, 100)
          print("completed")
      except Interrupted:
          print("interrupted")
      """
    let reader = try Child(python, ["-c", script, "\(slowfs.path)/slow"])
    defer {
      reader.signal(SIGKILL)
      reader.wait(timeout: 5)
    }
    XCTAssertTrue(waitForInflight(1), "the slow read never reached the backend")
    reader.signal(SIGUSR1)
    XCTAssertEqual(reader.wait(timeout: 30), 0, reader.stderr)
    XCTAssertEqual(reader.stdout, "interrupted\n")
    XCTAssertEqual(read("cancellations"), "1\n")
  }

  /// Content and names that change behind the kernel's back, with the
  /// default one-hour timeouts: without invalidation the kernel keeps showing
  /// the old state (the `quiet` change); after `vfs.invalidate(entry:in:)`
  /// and `vfs.invalidate(inode:)` it shows the new one.
  func testInvalidationShowsChangesMadeBehindTheKernel() throws {
    try mount([])
    XCTAssertEqual(read("version"), "version 1\n")
    XCTAssertTrue(exists("name-1"))
    XCTAssertFalse(exists("name-2"))
    XCTAssertFalse(exists("name-3"))

    // Changed without telling anyone: the kernel's caches still hold.
    XCTAssertTrue(write("quiet", to: "bump"))
    XCTAssertEqual(read("version"), "version 1\n")
    XCTAssertTrue(exists("name-1"))
    XCTAssertFalse(exists("name-2"))

    // Changed and invalidated (sent from the notifier's own thread: wait for it).
    XCTAssertTrue(write("go", to: "bump"))
    let expected = String(repeating: "version 3\n", count: 3)
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline, read("version") != expected || !exists("name-3") || exists("name-1") {
      usleep(10_000)
    }
    XCTAssertEqual(read("version"), expected)
    XCTAssertTrue(exists("name-3"))
    XCTAssertFalse(exists("name-1"))
    XCTAssertFalse(exists("name-2"))
  }
}
