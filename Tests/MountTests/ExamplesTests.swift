import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The examples of `Examples/` (issue 10), each run as a child process, as a
/// user runs it, and used through its mount with ordinary programs.

/// The jsontree example: env JSONTREE, else the one built beside the tests.
func jsontreePath() -> String { builtExecutable("jsontree", env: "JSONTREE") }
/// The passthrough example: env PASSTHROUGH, else the one built beside the tests.
func passthroughPath() -> String { builtExecutable("passthrough", env: "PASSTHROUGH") }
/// The chardev example: env CHARDEV, else the one built beside the tests.
func chardevPath() -> String { builtExecutable("chardev", env: "CHARDEV") }

/// A test case that starts an example on a fresh mount point before each
/// test and, after it (even when it failed), unmounts it and checks that
/// the example exited 0. Skipped without /dev/fuse and root, except under
/// CI=true, where it fails.
class ExampleTestCase: XCTestCase {
  /// The example's executable.
  class var executable: String { fatalError("an example test names its executable") }
  /// The example's arguments for `mountPoint` (made before each test).
  func arguments(mountPoint: String) throws -> [String] { [mountPoint] }

  var example: Child?
  var mountPoint = ""

  override func setUpWithError() throws {
    try super.setUpWithError()
    guard access("/dev/fuse", F_OK) == 0, getuid() == 0 else {
      if MountTestCase.isCI { XCTFail("no /dev/fuse or not root") }
      throw XCTSkip("needs /dev/fuse and root")
    }
    mountPoint = try makeTempDir("example")
    let child = try Child(Self.executable, try arguments(mountPoint: mountPoint))
    example = child
    let deadline = Date().addingTimeInterval(60)
    while MountInfo.at(mountPoint)?.fsType.hasPrefix("fuse") != true {
      if let status = child.wait(timeout: 0) {
        stopExample()
        throw SupportError("\(Self.executable) exited with \(status): \(child.stderr)")
      }
      guard Date() < deadline else {
        stopExample()
        throw SupportError("\(Self.executable) did not mount in 60 s")
      }
      usleep(20_000)
    }
  }

  override func tearDownWithError() throws {
    if let child = example {
      stopExample()
      if let status = child.exitStatus {
        XCTAssertEqual(status, 0, "\(Self.executable): \(child.stderr)")
      }
    }
    try super.tearDownWithError()
  }

  /// Unmounts (lazily, as `umount -l` would), waits for the example to
  /// exit, and kills it if it does not; removes the mount point.
  func stopExample() {
    guard let child = example else { return }
    example = nil
    let info = MountInfo.at(mountPoint)
    if info?.fsType.hasPrefix("fuse") == true { umount2(mountPoint, Int32(MNT_DETACH)) }
    if child.wait(timeout: 20) == nil {
      if let info { abortConnection(minor: info.minor) }
      child.signal(SIGKILL)
      child.wait(timeout: 5)
      XCTFail("\(Self.executable) did not exit after the unmount: \(child.stderr)")
    }
    example = child  // for the exit status in tearDown
    if !mountPoint.isEmpty { rmdir(mountPoint) }
  }

  /// `python3 -c script args...`.
  func python(_ script: String, _ args: [String] = [], timeout: Double = 60) -> RunResult {
    runCommand("python3", ["-c", script] + args, timeout: timeout)
  }
}

// MARK: - jsontree

/// `jsontree FILE.json MOUNTPOINT`: the document as directories and
/// read-only files, a writable notes.txt, a counter device.
final class JsonTreeExampleTests: ExampleTestCase {
  override class var executable: String { jsontreePath() }
  var documentDirectory = ""

  static let document = """
    {"name": "SwiftVFS", "version": 10, "pi": 3.5, "stable": true, "off": false,
     "tags": ["fuse", "vfs"], "build": {"swift": "6.0", "fuse": {"major": 3}},
     "nothing": null}
    """

  override func arguments(mountPoint: String) throws -> [String] {
    documentDirectory = try makeTempDir("jsontree-doc")
    let file = documentDirectory + "/doc.json"
    try Self.document.write(toFile: file, atomically: false, encoding: .utf8)
    return [file, mountPoint]
  }

  override func tearDownWithError() throws {
    try super.tearDownWithError()
    if !documentDirectory.isEmpty { try? FileManager.default.removeItem(atPath: documentDirectory) }
  }

  func testListingShowsTheDocumentNotesAndDev() {
    let r = sh("LC_ALL=C ls -R .", cwd: mountPoint)
    XCTAssertEqual(
      r.stdout,
      """
      .:
      build
      dev
      name
      notes.txt
      off
      pi
      stable
      tags
      version

      ./build:
      fuse
      swift

      ./build/fuse:
      major

      ./dev:
      counter

      ./tags:
      0
      1

      """, "\(r)")
  }

  func testValuesAreReadOnlyFilesWithANewline() {
    let expected = [
      "name": "SwiftVFS\n", "version": "10\n", "pi": "3.5\n", "stable": "true\n", "off": "false\n",
      "tags/0": "fuse\n", "tags/1": "vfs\n", "build/swift": "6.0\n", "build/fuse/major": "3\n",
    ]
    for (path, text) in expected {
      XCTAssertEqual(runCommand("cat", [mountPoint + "/" + path]).stdout, text, path)
    }
    // A value is read-only: writing is EACCES, even for root (ReadOnlyFile).
    XCTAssertEqual(result(open(mountPoint + "/name", O_WRONLY | O_APPEND)), "EACCES")
    XCTAssertEqual(result(truncate(mountPoint + "/name", 0)), "EACCES")
    var st = stat()
    XCTAssertEqual(result(stat(mountPoint + "/nothing", &st)), "ENOENT", "null is left out")
    XCTAssertEqual(result(stat(mountPoint + "/name", &st)), "OK")
    XCTAssertEqual(st.st_size, 9)
    XCTAssertEqual(st.st_mode & 0o7777, 0o444)
  }

  func testNotesTakeAppendsAndTruncation() {
    let notes = mountPoint + "/notes.txt"
    XCTAssertTrue(sh("echo one >> \(shq(notes)) && echo two >> \(shq(notes))").ok)
    XCTAssertEqual(runCommand("cat", [notes]).stdout, "one\ntwo\n")
    XCTAssertTrue(sh(": > \(shq(notes))").ok)
    XCTAssertEqual(runCommand("cat", [notes]).stdout, "")
    var st = stat()
    XCTAssertEqual(result(stat(notes, &st)), "OK")
    XCTAssertEqual(st.st_size, 0)
    XCTAssertTrue(sh("echo three >> \(shq(notes))").ok)
    XCTAssertEqual(runCommand("cat", [notes]).stdout, "three\n")
  }

  func testEachReadOfTheCounterGivesTheNextNumber() {
    let counter = mountPoint + "/dev/counter"
    XCTAssertEqual(runCommand("cat", [counter]).stdout, "1\n")
    XCTAssertEqual(runCommand("cat", [counter]).stdout, "2\n")
    // One open: the number, then the end of the file.
    let r = python(
      "import sys; f = open(sys.argv[1], 'rb'); print(f.read(), f.read())", [counter])
    XCTAssertEqual(r.stdout, "b'3\\n' b''\n", "\(r)")
  }
}

// MARK: - passthrough

/// `passthrough HOSTDIR MOUNTPOINT`: what is done through the mount is done
/// to the host directory, and the mount shows what the host holds.
final class PassthroughExampleTests: ExampleTestCase {
  override class var executable: String { passthroughPath() }
  var host = ""

  override func arguments(mountPoint: String) throws -> [String] {
    host = try makeTempDir("passthrough-host")
    try "seed\n".write(toFile: host + "/seed.txt", atomically: false, encoding: .utf8)
    try "remove me\n".write(toFile: host + "/old.txt", atomically: false, encoding: .utf8)
    mkdir(host + "/empty", 0o755)
    return [host, mountPoint]
  }

  override func tearDownWithError() throws {
    try super.tearDownWithError()
    if !host.isEmpty { try? FileManager.default.removeItem(atPath: host) }
  }

  /// Every entry below `root`: path, type, mode, size, links, link target.
  func tree(_ root: String) -> String {
    sh("find . -printf '%P %y %m %s %n %l\\n' | LC_ALL=C sort", cwd: root).stdout
  }

  func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }

  func testChangesThroughTheMountAreMadeOnTheHost() {
    let script = """
      set -e
      echo hello > new.txt
      printf more >> new.txt
      mkdir -p dir/sub
      mv new.txt dir/moved.txt
      rm old.txt
      rmdir empty
      chmod 600 dir/moved.txt
      truncate -s 2 seed.txt
      ln -s dir/moved.txt link
      touch -d @1000000000 seed.txt
      """
    let r = sh(script, cwd: mountPoint)
    XCTAssertTrue(r.ok, "\(r)")
    XCTAssertEqual(read(host + "/dir/moved.txt"), "hello\nmore")
    XCTAssertNil(read(host + "/new.txt"), "renamed away")
    XCTAssertNil(read(host + "/old.txt"), "removed")
    var st = stat()
    XCTAssertEqual(result(stat(host + "/empty", &st)), "ENOENT")
    XCTAssertEqual(result(stat(host + "/dir/sub", &st)), "OK")
    XCTAssertEqual(st.st_mode & S_IFMT, S_IFDIR)
    XCTAssertEqual(result(stat(host + "/dir/moved.txt", &st)), "OK")
    XCTAssertEqual(st.st_mode & 0o7777, 0o600)
    XCTAssertEqual(read(host + "/seed.txt"), "se")
    XCTAssertEqual(result(stat(host + "/seed.txt", &st)), "OK")
    XCTAssertEqual(st.st_mtim.tv_sec, 1_000_000_000)
    XCTAssertEqual(runCommand("readlink", [host + "/link"]).out, "dir/moved.txt")
    // The mount and the host list the same entries, types, modes, sizes and links.
    let hostTree = tree(host)
    XCTAssertTrue(hostTree.contains("dir/moved.txt f 600 10 1 \n"), hostTree)
    XCTAssertEqual(tree(mountPoint), hostTree)
  }

  func testHostChangesShowThroughTheMount() {
    XCTAssertEqual(read(mountPoint + "/seed.txt"), "seed\n")
    try? "changed on the host\n".write(
      toFile: host + "/seed.txt", atomically: false, encoding: .utf8)
    try? "made on the host\n".write(toFile: host + "/made.txt", atomically: false, encoding: .utf8)
    unlink(host + "/old.txt")
    XCTAssertEqual(read(mountPoint + "/seed.txt"), "changed on the host\n")
    XCTAssertEqual(read(mountPoint + "/made.txt"), "made on the host\n")
    XCTAssertEqual(
      runCommand("ls", ["-A", mountPoint]).stdout, runCommand("ls", ["-A", host]).stdout)
    XCTAssertEqual(runCommand("ls", ["-A", mountPoint]).out, "empty\nmade.txt\nseed.txt")
  }

  func testNewFilesAndDirectoriesGetTheModeAskedFor() {
    // The caller's umask, applied by the kernel, and not the example's own.
    let r = sh("umask 027 && echo x > made.txt && mkdir made.d", cwd: mountPoint)
    XCTAssertTrue(r.ok, "\(r)")
    var st = stat()
    XCTAssertEqual(result(stat(host + "/made.txt", &st)), "OK")
    XCTAssertEqual(octal(st.st_mode & 0o7777), "640")
    XCTAssertEqual(result(stat(host + "/made.d", &st)), "OK")
    XCTAssertEqual(octal(st.st_mode & 0o7777), "750")
  }

  func testRenameFlagsAndErrorsComeFromTheHost() {
    let a = mountPoint + "/seed.txt"
    let b = mountPoint + "/old.txt"
    // RENAME_NOREPLACE onto an existing name: EEXIST; RENAME_EXCHANGE swaps.
    XCTAssertEqual(result(Libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, 1)), "EEXIST")
    XCTAssertEqual(result(Libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, 2)), "OK")
    XCTAssertEqual(read(host + "/seed.txt"), "remove me\n")
    XCTAssertEqual(read(host + "/old.txt"), "seed\n")
    XCTAssertEqual(result(rmdir(mountPoint + "/seed.txt")), "ENOTDIR")
    XCTAssertEqual(result(unlink(mountPoint + "/missing")), "ENOENT")
    XCTAssertEqual(result(mkdir(mountPoint + "/empty", 0o755)), "EEXIST")
    try? "x".write(toFile: host + "/empty/x", atomically: false, encoding: .utf8)
    XCTAssertEqual(result(rmdir(mountPoint + "/empty")), "ENOTEMPTY")
  }
}

// MARK: - chardev

/// `chardev MOUNTPOINT`: a ring-buffer driver at MOUNTPOINT/dev/ring, with
/// a dynamic major, read, write, poll and two ioctls.
final class CharDeviceExampleTests: ExampleTestCase {
  override class var executable: String { chardevPath() }
  var ring: String { mountPoint + "/dev/ring" }

  /// RING_IOCRESET = _IO('r', 0), RING_IOCGFILL = _IOR('r', 1, int),
  /// RING_IOCGSIZE = _IOR('r', 2, int), as Examples/chardev declares them.
  static let prelude = """
    import errno, fcntl, os, select, struct, sys, threading
    RESET, GETFILL, GETSIZE = 0x7200, 0x80047201, 0x80047202
    def fill(fd): return struct.unpack('i', fcntl.ioctl(fd, GETFILL, bytes(4)))[0]
    def attempt(f, *a):
        try: return f(*a)
        except OSError as e: return errno.errorcode[e.errno]

    """

  func testTheDriverHasADynamicMajorAndANodeInDev() {
    let devices = (try? String(contentsOfFile: mountPoint + "/proc/devices", encoding: .utf8)) ?? ""
    let line = devices.split(separator: "\n").first { $0.hasSuffix(" ring") }
    let major = line.flatMap { UInt32($0.split(separator: " ")[0]) }
    XCTAssertNotNil(major, devices)
    if let major {
      XCTAssertTrue((234...254).contains(major), "a dynamic major: \(major)")
      XCTAssertEqual(example?.stdout, "chardev: /dev/ring is \(major):0\n")
    }
    XCTAssertEqual(runCommand("ls", [mountPoint + "/dev"]).stdout.contains("ring\n"), true)
  }

  func testWriteThenReadConsumesAndAnEmptyNonBlockingReadIsEAGAIN() {
    let r = python(
      Self.prelude + """
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
        print(attempt(os.read, fd, 10))
        print(os.write(fd, b'hello '), os.write(fd, b'world'))
        print(os.read(fd, 6), os.read(fd, 100))
        print(attempt(os.read, fd, 10))
        """, [ring])
    XCTAssertEqual(r.stdout, "EAGAIN\n6 5\nb'hello ' b'world'\nEAGAIN\n", "\(r)")
    // The shell way: echo appends, and a second open reads what the first wrote.
    XCTAssertTrue(sh("echo from-shell > \(shq(ring))").ok)
    XCTAssertEqual(
      python(Self.prelude + "print(os.read(os.open(sys.argv[1], os.O_RDONLY), 100))", [ring])
        .stdout, "b'from-shell\\n'\n")
  }

  func testABlockingReadAndPollWakeWhenAWriterAddsData() {
    // A blocking reader, then a poller, each in a thread of its own while the
    // main thread writes. Whether or not the thread has gone to sleep before
    // the write, it must get the data (a lost wake-up hangs it until the
    // timeout); one at a time, so that the reader cannot take the poller's data.
    let r = python(
      Self.prelude + """
        got = []
        def poller():
            fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
            p = select.poll(); p.register(fd, select.POLLIN)
            got.append(p.poll(-1)[0][1] & select.POLLIN != 0)
        def reader():
            got.append(os.read(os.open(sys.argv[1], os.O_RDONLY), 100))
        writer = os.open(sys.argv[1], os.O_WRONLY)
        for target, data in [(reader, b'ping'), (poller, b'p')]:
            t = threading.Thread(target=target); t.start(); t.join(0.2)
            os.write(writer, data)
            t.join()
        print(got)
        """, [ring], timeout: 60)
    XCTAssertEqual(r.stdout, "[b'ping', True]\n", "\(r)")
  }

  func testPollAndSelectReportReadinessAndRoom() {
    let r = python(
      Self.prelude + """
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
        p = select.poll(); p.register(fd, select.POLLIN | select.POLLOUT)
        def events():
            m = p.poll(0)[0][1] if p.poll(0) else 0
            return ('IN' if m & select.POLLIN else '') + ('OUT' if m & select.POLLOUT else '')
        def readable(): return select.select([fd], [], [], 0)[0] == [fd]
        print('empty', events(), readable())
        os.write(fd, b'x')
        print('one', events(), readable())
        size = struct.unpack('i', fcntl.ioctl(fd, GETSIZE, bytes(4)))[0]
        print(os.write(fd, b'y' * (size - 1)), 'full', events(), attempt(os.write, fd, b'z'))
        os.read(fd, size)
        print('drained', events(), readable())
        """, [ring])
    XCTAssertEqual(
      r.stdout, "empty OUT False\none INOUT True\n4095 full IN EAGAIN\ndrained OUT False\n",
      "\(r)")
  }

  func testIoctlsReturnTheFillLevelAndEmptyTheRing() {
    let r = python(
      Self.prelude + """
        fd = os.open(sys.argv[1], os.O_RDWR | os.O_NONBLOCK)
        print(fill(fd), struct.unpack('i', fcntl.ioctl(fd, GETSIZE, bytes(4)))[0])
        os.write(fd, b'12345')
        print(fill(fd))
        print(fcntl.ioctl(fd, RESET), fill(fd), attempt(os.read, fd, 10))
        print(attempt(fcntl.ioctl, fd, 0x7205))
        """, [ring])
    XCTAssertEqual(r.stdout, "0 4096\n5\n0 0 EAGAIN\nENOTTY\n", "\(r)")
  }

  func testSIGTERMUnmountsAndExitsZero() throws {
    let child = try XCTUnwrap(example)
    child.signal(SIGTERM)
    XCTAssertEqual(child.wait(timeout: 30), 0, child.stderr)
    XCTAssertNil(MountInfo.at(mountPoint), "the example unmounts on SIGTERM")
  }
}

// MARK: - Bad arguments

/// A bad mount point (or input) is one line on stderr and exit status 1.
final class ExampleArgumentTests: XCTestCase {
  func testAMissingMountPointIsOneLineAndExit1() throws {
    let missing = "/nonexistent-swiftvfs-\(getpid())"
    let host = try makeTempDir("example-args")
    defer { try? FileManager.default.removeItem(atPath: host) }
    try "{}".write(toFile: host + "/doc.json", atomically: false, encoding: .utf8)
    for (example, args) in [
      (jsontreePath(), [host + "/doc.json", missing]), (passthroughPath(), [host, missing]),
      (chardevPath(), [missing]),
    ] {
      let r = runCommand(example, args, timeout: 30)
      XCTAssertEqual(r.status, 1, "\(example): \(r)")
      XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(example): \(r)")
      XCTAssertTrue(r.stderr.contains(missing) && r.stderr.contains("ENOENT"), "\(example): \(r)")
      XCTAssertNil(MountInfo.at(missing))
    }
  }

  func testBadInputIsOneLineAndExit1() throws {
    let dir = try makeTempDir("example-input")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try "{not json".write(toFile: dir + "/bad.json", atomically: false, encoding: .utf8)
    for (example, args) in [
      (jsontreePath(), [dir + "/bad.json", dir]), (jsontreePath(), [dir + "/missing.json", dir]),
      (passthroughPath(), [dir + "/missing", dir]),
    ] {
      let r = runCommand(example, args, timeout: 30)
      XCTAssertEqual(r.status, 1, "\(example): \(r)")
      XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(example): \(r)")
      XCTAssertNil(MountInfo.at(dir))
    }
  }
}
