import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// /proc on a real mount. With `entry_timeout=0,attr_timeout=0` every path
/// walk sends a LOOKUP, so the Swift dcache's counters move with each `stat`.
final class ProcMountTests: MountTestCase {
  override class var mountOptions: [String] {
    ["allow_other", "entry_timeout=0", "attr_timeout=0"]
  }
  override class var usesTmpfs: Bool { false }

  var proc: String { vfs.path + "/proc" }

  // MARK: - Helpers

  /// Reads a file to EOF with read(2), as cat does; nil and errno on failure.
  func readFile(_ path: String, at dirfd: Int32 = AT_FDCWD) -> String? {
    let fd = openat(dirfd, path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = read(fd, &buffer, buffer.count)
      if n < 0 { return nil }
      if n == 0 { break }
      out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Writes `text` with one write(2) (O_WRONLY|O_CREAT|O_TRUNC, as `echo >`
  /// does); 0 or the errno of the open or the write.
  func writeFile(_ path: String, _ bytes: [UInt8], at dirfd: Int32 = AT_FDCWD) -> Int32 {
    let fd = openat(dirfd, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return errno }
    defer { close(fd) }
    let n = write(fd, bytes, bytes.count)
    return n == bytes.count ? 0 : n < 0 ? errno : EIO
  }

  func writeFile(_ path: String, _ text: String, at dirfd: Int32 = AT_FDCWD) -> Int32 {
    writeFile(path, Array(text.utf8), at: dirfd)
  }

  func openDir(_ path: String) throws -> Int32 {
    let fd = open(path, O_RDONLY | O_DIRECTORY)
    guard fd >= 0 else { throw SupportError("open \(path): \(String(cString: strerror(errno)))") }
    return fd
  }

  /// /proc/vfs/dcache's counters, read through a directory fd so that each
  /// read costs one LOOKUP ("dcache") and nothing else.
  func dcache(_ vfsDir: Int32) throws -> [String: Int] {
    let text = try XCTUnwrap(readFile("dcache", at: vfsDir))
    var out: [String: Int] = [:]
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ")
      if f.count == 2, let v = Int(f[1]) { out[String(f[0])] = v }
    }
    out["longest_chain"] = nil  // moves with the hash seed, not with the series
    return out
  }

  func delta(_ a: [String: Int], _ b: [String: Int]) -> [String: Int] {
    b.merging(a) { $0 - $1 }.filter { $0.value != 0 }
  }

  func statErrno(_ path: String) -> Int32 {
    var st = stat()
    return stat(path, &st) == 0 ? 0 : errno
  }

  // MARK: - Tests

  func testCatDentryStatePrintsSixNumbers() {
    let r = MountTests.run("cat", [proc + "/sys/fs/dentry-state"], timeout: 10)
    XCTAssertTrue(r.ok, "\(r)")
    let fields = r.out.split(separator: "\t", omittingEmptySubsequences: false)
    XCTAssertEqual(fields.count, 6, r.stdout)
    XCTAssertTrue(fields.allSatisfy { Int($0) != nil }, r.stdout)
    XCTAssertEqual(fields[2], "45")
  }

  func testEveryFileReadsAndParses() throws {
    let files = [
      "devices", "filesystems", "mounts", "sys/fs/dentry-state", "sys/fs/inode-nr",
      "sys/fs/inode-state", "sys/fs/dcache-max", "vfs/dcache", "vfs/inodes", "vfs/requests",
      "vfs/objects", "vfs/devnodes",
    ]
    for name in files {
      let text = try XCTUnwrap(
        readFile(proc + "/" + name), "\(name): \(String(cString: strerror(errno)))")
      XCTAssertTrue(text.hasSuffix("\n"), name)
      var st = stat()
      XCTAssertEqual(stat(proc + "/" + name, &st), 0)
      XCTAssertEqual(st.st_size, 0, name)  // generated on read, like /proc
      XCTAssertEqual(st.st_uid, 0, name)
    }
    XCTAssertEqual(readFile(proc + "/sys/fs/inode-nr")?.split(separator: "\t").count, 2)
    XCTAssertEqual(readFile(proc + "/sys/fs/inode-state")?.split(separator: "\t").count, 7)
    XCTAssertTrue(readFile(proc + "/filesystems")!.contains("nodev\tproc\n"))
    XCTAssertTrue(readFile(proc + "/mounts")!.contains("proc /proc proc rw"))
    XCTAssertTrue(readFile(proc + "/devices")!.hasPrefix("Character devices:\n"))
    XCTAssertTrue(readFile(proc + "/devices")!.contains("\nBlock devices:\n"))
    let requests = readFile(proc + "/vfs/requests")!
    XCTAssertTrue(requests.contains(" LOOKUP "), requests)
    XCTAssertTrue(requests.contains("unhandled"), requests)
    // The same through the tools a person uses.
    XCTAssertTrue(MountTests.run("grep", ["-c", "hits", proc + "/vfs/dcache"], timeout: 10).ok)
    XCTAssertEqual(
      MountTests.run("sh", ["-c", "less -F \(shq(proc + "/mounts")) | wc -l"], timeout: 10).out
        .trimmingCharacters(in: .whitespaces), "3")
    XCTAssertEqual(
      MountTests.run("ls", [proc], timeout: 10).out.split(separator: "\n"),
      [
        "devices", "filesystems", "meminfo", "mounts", "partitions", "sys", "sysrq-trigger", "vfs",
        "vmstat",
      ])
  }

  /// The README's session: a first stat misses, a second hits, a stat of a
  /// missing name adds a negative entry (and then hits it), drop_caches
  /// empties the LRU.
  func testStatMissesThenHitsAndDropCachesEmptiesTheLRU() throws {
    let fd = open(vfs.path + "/a", O_CREAT | O_WRONLY, 0o644)
    XCTAssertGreaterThanOrEqual(fd, 0)
    close(fd)
    let vfsDir = try openDir(proc + "/vfs")
    defer { close(vfsDir) }
    let vmDir = try openDir(proc + "/sys/vm")
    defer { close(vmDir) }
    let fsDir = try openDir(proc + "/sys/fs")
    defer { close(fsDir) }

    XCTAssertEqual(writeFile("drop_caches", "2", at: vmDir), 0)
    XCTAssertEqual(writeFile("reset", "1", at: vfsDir), 0)
    // What reading the report costs by itself: one LOOKUP of "dcache", a hit.
    let s0 = try dcache(vfsDir)
    let s1 = try dcache(vfsDir)
    let cost = delta(s0, s1)
    XCTAssertEqual(cost, ["lookups": 1, "hits": 1])
    func step(_ action: () -> Void) throws -> [String: Int] {
      let before = try dcache(vfsDir)
      action()
      return delta(cost, delta(before, try dcache(vfsDir)))
    }

    XCTAssertEqual(
      try step { XCTAssertEqual(statErrno(vfs.path + "/a"), 0) },
      ["lookups": 1, "misses": 1, "entries": 1, "unused": 1], "first stat misses")
    XCTAssertEqual(
      try step { XCTAssertEqual(statErrno(vfs.path + "/a"), 0) },
      ["lookups": 1, "hits": 1], "second stat hits")
    XCTAssertEqual(
      try step { XCTAssertEqual(statErrno(vfs.path + "/nope"), ENOENT) },
      ["lookups": 1, "misses": 1, "entries": 1, "unused": 1, "negative": 1],
      "a missing name adds a negative entry")
    XCTAssertEqual(
      try step { XCTAssertEqual(statErrno(vfs.path + "/nope"), ENOENT) },
      ["lookups": 1, "negative_hits": 1], "and the next stat hits it")

    let before = try dcache(vfsDir)
    XCTAssertGreaterThan(before["unused"]!, 1)
    XCTAssertEqual(writeFile("drop_caches", "2\n", at: vmDir), 0)
    // Read through fsDir: the one dentry back on the LRU is "dentry-state",
    // looked up to read it.
    let state = try XCTUnwrap(readFile("dentry-state", at: fsDir)).dropLast()
      .split(separator: "\t").map { Int($0)! }
    XCTAssertEqual(state[1], 1, "nr_unused after drop_caches")
    XCTAssertEqual(state[4], 0, "nr_negative after drop_caches")
    // Nothing was lost: the file is still there, found by a miss.
    XCTAssertEqual(
      try step { XCTAssertEqual(statErrno(vfs.path + "/a"), 0) },
      ["lookups": 1, "misses": 1, "entries": 1, "unused": 1])
  }

  func testBoundedDcacheEvicts() throws {
    let vfsDir = try openDir(proc + "/vfs")
    defer { close(vfsDir) }
    XCTAssertEqual(writeFile(proc + "/sys/fs/dcache-max", "16"), 0)
    XCTAssertEqual(readFile(proc + "/sys/fs/dcache-max"), "16\n")
    let before = try dcache(vfsDir)
    for i in 0..<40 {
      let fd = open(vfs.path + "/f\(i)", O_CREAT | O_WRONLY, 0o644)
      XCTAssertGreaterThanOrEqual(fd, 0)
      close(fd)
    }
    let after = try dcache(vfsDir)
    XCTAssertLessThanOrEqual(after["entries"]!, 16)
    XCTAssertGreaterThanOrEqual(after["evictions"]! - before["evictions"]!, 40 - 16)
    // Every file is still there.
    for i in 0..<40 { XCTAssertEqual(statErrno(vfs.path + "/f\(i)"), 0) }
    XCTAssertEqual(
      MountTests.run("sh", ["-c", "ls \(shq(vfs.path)) | grep -c '^f'"], timeout: 10).out, "40")
  }

  func testBadWritesAreEINVALAndTheFileSystemGoesOn() throws {
    let drop = proc + "/sys/vm/drop_caches"
    for text in ["0", "5", "abc", "\n", "-1", "3 3", "99999999999999999999999"] {
      XCTAssertEqual(writeFile(drop, text), EINVAL, text)
    }
    XCTAssertEqual(writeFile(drop, [UInt8](repeating: 0x31, count: 1 << 20)), EINVAL, "huge")
    XCTAssertEqual(writeFile(proc + "/sys/fs/dcache-max", "0"), EINVAL)
    XCTAssertEqual(writeFile(proc + "/vfs/reset", "2"), EINVAL)
    XCTAssertEqual(writeFile(proc + "/sys/fs/dentry-state", "1"), EACCES)
    XCTAssertNil(readFile(drop))
    XCTAssertEqual(errno, EACCES)
    XCTAssertEqual(chmod(proc + "/vfs/dcache", 0o666), -1)
    XCTAssertEqual(errno, EPERM)
    XCTAssertEqual(open(proc + "/new", O_CREAT | O_WRONLY, 0o644), -1)
    XCTAssertEqual(errno, EACCES)
    // The shell's view of the same (bash names the errno; dash says "I/O error").
    let r = MountTests.run("bash", ["-c", "echo garbage > \(shq(drop))"], timeout: 10)
    XCTAssertFalse(r.ok)
    XCTAssertTrue(r.stderr.contains("Invalid argument"), r.stderr)
    XCTAssertTrue(sh("echo 3 > \(shq(drop))", timeout: 10).ok)

    // Still working.
    XCTAssertEqual(writeFile(vfs.path + "/after", "fine"), 0)
    XCTAssertEqual(readFile(vfs.path + "/after"), "fine")
    XCTAssertEqual(readFile(proc + "/sys/fs/dentry-state")?.split(separator: "\t").count, 6)
  }

  /// A reader of the trace sees the requests a test makes: the LOOKUP of a
  /// name it stats, and the chain read() -> READ -> file_operations.read -> memfs.
  func testTraceReaderSeesRequests() throws {
    XCTAssertEqual(writeFile(vfs.path + "/traced", "data"), 0)
    let fd = open(proc + "/vfs/trace", O_RDONLY | O_NONBLOCK)
    XCTAssertGreaterThanOrEqual(fd, 0)
    defer { close(fd) }
    var text = ""
    func drain(until needle: String) {
      var buffer = [UInt8](repeating: 0, count: 65536)
      let deadline = Date().addingTimeInterval(5)
      while !text.contains(needle), Date() < deadline {
        let n = read(fd, &buffer, buffer.count)
        if n > 0 {
          text += String(decoding: buffer[0..<n], as: UTF8.self)
        } else {
          XCTAssertEqual(errno, EAGAIN)
          usleep(20_000)
        }
      }
    }
    drain(until: "#     seconds")
    XCTAssertEqual(statErrno(vfs.path + "/marker-missing"), ENOENT)
    XCTAssertEqual(readFile(vfs.path + "/traced"), "data")
    drain(until: " READ ")
    let lines = text.split(separator: "\n")
    XCTAssertTrue(
      lines.contains { $0.contains(" LOOKUP ") && $0.contains("marker-missing") }, text)
    XCTAssertTrue(
      lines.contains {
        $0.contains(" READ ") && $0.contains("file_operations.read") && $0.contains("memfs")
      }, text)
    // The trace's own reads are not in it.
    XCTAssertFalse(lines.contains { $0.contains(" READ ") && $0.contains("proc ") }, text)
    var st = stat()
    XCTAssertEqual(fstat(fd, &st), 0)
    XCTAssertGreaterThan(st.st_size, 0)  // the bytes traced so far
  }

  /// A blocking reader waits for the next request, and Ctrl-C ends it.
  func testBlockingTraceReadWakesAndIsInterruptible() throws {
    let cat = try Child("/bin/cat", [proc + "/vfs/trace"])
    defer {
      cat.signal(SIGKILL)
      cat.wait(timeout: 5)
    }
    usleep(300_000)
    XCTAssertEqual(statErrno(vfs.path + "/wake-up-call"), ENOENT)
    let deadline = Date().addingTimeInterval(5)
    while !cat.stdout.contains("wake-up-call"), Date() < deadline { usleep(20_000) }
    XCTAssertTrue(cat.stdout.contains("wake-up-call"), cat.stdout)
    XCTAssertNil(cat.wait(timeout: 0.2), "cat waits for more")
    cat.signal(SIGINT)
    XCTAssertNotNil(cat.wait(timeout: 5), "SIGINT ends a read blocked in the trace")
  }

  /// `tail -f` follows the trace: it polls the size, which grows.
  func testTailFollowsTheTrace() throws {
    let tail = try Child(which("tail") ?? "/usr/bin/tail", ["-f", proc + "/vfs/trace"])
    defer {
      tail.signal(SIGKILL)
      tail.wait(timeout: 5)
    }
    usleep(500_000)
    XCTAssertEqual(statErrno(vfs.path + "/followed"), ENOENT)
    let deadline = Date().addingTimeInterval(5)
    while !tail.stdout.contains("followed"), Date() < deadline { usleep(50_000) }
    XCTAssertTrue(tail.stdout.contains("followed"), tail.stdout)
  }
}
