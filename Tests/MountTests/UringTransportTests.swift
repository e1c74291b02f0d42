import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The native engine over FUSE-over-io_uring (`-o engine=native,transport=uring`,
/// Engine/FuseUringTransport.swift). The kernel's switch,
/// /sys/module/fuse/parameters/enable_uring, is turned on for each test and
/// put back as it was afterwards, even when the test fails.
final class UringTransportTests: MountTestCase {
  override class var mountOptions: [String] { ["allow_other", "engine=native", "transport=uring"] }
  override class var usesTmpfs: Bool { false }

  static let parameter = "/sys/module/fuse/parameters/enable_uring"
  /// The parameter's value before the test ("Y" or "N"); nil once restored.
  private var savedParameter: String?

  private static func readParameter() -> String? {
    guard let text = try? String(contentsOfFile: parameter, encoding: .utf8) else { return nil }
    return text.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  private static func writeParameter(_ value: String) throws {
    let fd = open(parameter, O_WRONLY)
    guard fd >= 0 else { throw SupportError("open \(parameter): errno \(errno)") }
    defer { close(fd) }
    guard write(fd, value, value.utf8.count) == value.utf8.count else {
      throw SupportError("write \(value) to \(parameter): errno \(errno)")
    }
  }

  private func restoreParameter() {
    guard let saved = savedParameter else { return }
    savedParameter = nil
    try? Self.writeParameter(saved)
  }

  override func setUpWithError() throws {
    guard let saved = Self.readParameter() else {
      if Self.isCI { XCTFail("\(Self.parameter) is missing: no FUSE-over-io_uring in this kernel") }
      throw XCTSkip("\(Self.parameter) is missing: no FUSE-over-io_uring in this kernel")
    }
    savedParameter = saved
    do {
      try Self.writeParameter("Y")
      try super.setUpWithError()
    } catch {
      restoreParameter()
      throw error
    }
  }

  override func tearDownWithError() throws {
    // The mount goes first: a connection keeps its transport anyway.
    defer { restoreParameter() }
    try super.tearDownWithError()
  }

  /// The "requests io_uring N /dev/fuse M" line: (N, M).
  private func transportCounts(_ mount: String) throws -> (ring: Int, device: Int) {
    let words = (try fuseConnection(mount)["requests"] ?? "").split(separator: " ")
    guard words.count == 4, words[0] == "io_uring", words[2] == "/dev/fuse",
      let ring = Int(words[1]), let device = Int(words[3])
    else { throw SupportError("no requests line: \(words)") }
    return (ring, device)
  }

  /// The calls column of /proc/vfs/requests for `opcode`.
  private func calls(_ mount: String, _ opcode: String) throws -> Int {
    let text = try String(contentsOfFile: mount + "/proc/vfs/requests", encoding: .utf8)
    for line in text.split(separator: "\n") {
      let words = line.split(separator: " ")
      if words.count > 4, words[1] == opcode, let n = Int(words[3]) { return n }
    }
    throw SupportError("\(opcode) not in /proc/vfs/requests")
  }

  /// The number of queues the kernel wants: one per possible CPU.
  private func possibleCPUs() throws -> Int {
    let text = try String(contentsOfFile: "/sys/devices/system/cpu/possible", encoding: .utf8)
    let last = text.split(whereSeparator: { $0 == "," || $0 == "-" || $0 == "\n" }).last
    return (last.flatMap { Int($0) } ?? 0) + 1
  }

  func testConnectionSaysIoUring() throws {
    let c = try fuseConnection(vfs.path)
    let transport = c["transport"] ?? ""
    let queues = try possibleCPUs()
    XCTAssertTrue(
      transport.hasPrefix("io_uring, \(queues) queue\(queues == 1 ? "" : "s") × 8 entries"),
      transport)
    XCTAssertFalse(transport.contains("unavailable"), transport)
    let flags = Set((c["flags"] ?? "").split(separator: " ").map(String.init))
    XCTAssertTrue(flags.isSuperset(of: ["OVER_IO_URING", "INIT_EXT"]), "\(flags.sorted())")
    XCTAssertEqual(c["max_write"], "1048576")
    // Each queue: entries free in the kernel / all, at least the 8 registered.
    let perQueue = (c["ring_entries"] ?? "").split(separator: " ")
    XCTAssertEqual(perQueue.count, queues, "\(c)")
    for q in perQueue {
      let n = q.split(separator: "/").compactMap { Int($0) }
      XCTAssertEqual(n.count, 2, "\(q)")
      XCTAssertGreaterThanOrEqual(n.last ?? 0, 8, "\(q)")
      XCTAssertLessThanOrEqual(n.first ?? -1, n.last ?? 0, "\(q)")
    }
  }

  /// Everyday operations, a 10 MiB file by hash, O_DIRECT reads and a tree
  /// copied with cp -a: right, and carried by the ring, not /dev/fuse.
  func testWorkloadGoesThroughTheRing() throws {
    let before = try transportCounts(vfs.path)
    let writesBefore = try calls(vfs.path, "WRITE")
    let readsBefore = try calls(vfs.path, "READ")
    let script = """
      set -e
      cd "$1"; mkdir w; cd w
      echo hello > a; echo world >> a; cat a
      mkdir d; mv a d/b; ls; cat d/b; rm d/b; ls d; rmdir d
      head -c 10485760 /dev/urandom > "$2/big"
      cp "$2/big" big
      a=$(sha256sum < "$2/big"); b=$(sha256sum < big); [ "$a" = "$b" ] && echo same-hash
      dd if=big of="$2/direct" bs=1M iflag=direct 2>/dev/null
      cmp "$2/big" "$2/direct" && echo same-direct
      mkdir -p "$2/tree/x/y"; echo one > "$2/tree/1"; echo two > "$2/tree/x/2"
      ln -s 1 "$2/tree/link"; chmod 600 "$2/tree/x/2"
      cp -a "$2/tree" tree
      diff -r "$2/tree" tree && echo same-tree
      stat -c %a tree/x/2; readlink tree/link
      """
    let scratch = try makeTempDir("uring-scratch")
    defer { runCommand("rm", ["-rf", scratch]) }
    let r = sh(script + "\n", environment: nil, timeout: 120, arguments: [vfs.path, scratch])
    XCTAssertEqual(
      r.stdout,
      "hello\nworld\nd\nhello\nworld\nsame-hash\nsame-direct\nsame-tree\n600\n1\n", r.description)
    let after = try transportCounts(vfs.path)
    // 10 MiB in at most 1 MiB writes and as many O_DIRECT reads, at the least.
    XCTAssertGreaterThanOrEqual(after.ring - before.ring, 20, "\(before) -> \(after)")
    // Only what the ring does not carry (FORGET, INTERRUPT) reads /dev/fuse.
    XCTAssertLessThan(after.device - before.device, after.ring - before.ring)
    XCTAssertGreaterThanOrEqual(try calls(vfs.path, "WRITE") - writesBefore, 10)
    XCTAssertGreaterThanOrEqual(try calls(vfs.path, "READ") - readsBefore, 10)
  }

  /// With enable_uring off, asking for the ring still mounts, on read/write,
  /// and says why.
  func testFallsBackWhenTheParameterIsOff() throws {
    try Self.writeParameter("N")
    let other = try VfsMount(options: ["allow_other", "engine=native", "transport=uring"])
    defer { other.unmount() }
    let c = try fuseConnection(other.path)
    let transport = c["transport"] ?? ""
    XCTAssertTrue(transport.hasPrefix("read/write, "), transport)
    XCTAssertTrue(transport.hasSuffix("(io_uring unavailable: enable_uring is off)"), transport)
    XCTAssertFalse((c["flags"] ?? "").contains("OVER_IO_URING"))
    let r = sh("echo fallback > \"$1/f\" && cat \"$1/f\"", arguments: [other.path])
    XCTAssertEqual(r.stdout, "fallback\n", r.description)
    let counts = try transportCounts(other.path)
    XCTAssertEqual(counts.ring, 0)
    XCTAssertGreaterThan(counts.device, 0)
  }

  /// With no transport asked for, the engine takes the ring when root has
  /// turned it on, and read/write without a word about the ring when not.
  func testDefaultTransportFollowsTheParameter() throws {
    let on = try VfsMount(options: ["allow_other", "engine=native", "transport=auto"])
    defer { on.unmount() }
    let ring = try fuseConnection(on.path)
    XCTAssertTrue((ring["transport"] ?? "").hasPrefix("io_uring, "), "\(ring)")
    XCTAssertTrue((ring["flags"] ?? "").contains("OVER_IO_URING"), "\(ring)")
    XCTAssertEqual(sh("echo on > \"$1/f\" && cat \"$1/f\"", arguments: [on.path]).stdout, "on\n")
    XCTAssertGreaterThan(try transportCounts(on.path).ring, 0)

    try Self.writeParameter("N")
    let off = try VfsMount(options: ["allow_other", "engine=native", "transport=auto"])
    defer { off.unmount() }
    let plain = try fuseConnection(off.path)
    XCTAssertTrue((plain["transport"] ?? "").hasPrefix("read/write, "), "\(plain)")
    XCTAssertFalse((plain["transport"] ?? "").contains("io_uring"), "\(plain)")
    XCTAssertEqual(try transportCounts(off.path).ring, 0)
  }

  /// The read/write transport says nothing of io_uring and counts no ring request.
  func testReadWriteTransportIsUnchanged() throws {
    let other = try VfsMount(options: ["allow_other", "engine=native", "transport=readwrite"])
    defer { other.unmount() }
    let c = try fuseConnection(other.path)
    XCTAssertFalse((c["transport"] ?? "").contains("io_uring"), "\(c)")
    XCTAssertEqual(try transportCounts(other.path).ring, 0)
  }

  /// An unmount ends every queue thread: the daemon exits 0.
  func testUnmountEndsTheDaemon() throws {
    XCTAssertEqual(sh("echo x > \"$1/f\"", arguments: [vfs.path]).status, 0)
    let daemon = vfs!
    let result = runCommand("fusermount3", ["-u", daemon.path], timeout: 30)
    XCTAssertTrue(result.ok, result.description)
    XCTAssertEqual(daemon.waitForExit(timeout: 30), 0, daemon.stderr)
  }
}

/// `sh -c script sh arguments...`: the arguments as $1, $2...
private func sh(
  _ script: String, environment: [String: String]? = nil, timeout: Double = 60,
  arguments: [String]
) -> RunResult {
  runCommand(
    "/bin/sh", ["-c", script, "sh"] + arguments, environment: environment, timeout: timeout)
}
