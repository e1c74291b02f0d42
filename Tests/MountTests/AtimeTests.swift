import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// atime under each mount option, side by side with a tmpfs mounted with the
/// same option. The kernel's FUSE never moves atime itself (its inodes are
/// S_NOATIME): every move seen here is the daemon's, following the kernel's
/// atime_needs_update() and relatime_need_update().
///
/// Timing-free: atime is set an hour ahead (relatime leaves such an atime
/// alone, strictatime moves it back to now) or two days back (relatime moves
/// it), then the file is read or the directory listed, and the test asks
/// only whether atime moved.
/// Each subclass tests one option (XCTest on Linux finds only the test
/// methods a class declares itself, so each declares its two).
class AtimeTestCase: ConformanceTestCase {
  /// The atime option under test; nil for the default (relatime).
  class var atimeOption: String? { nil }
  /// What each step must do on tmpfs (and so on vfsmount).
  class var expected: (fileAhead: Bool, fileOld: Bool, dirAhead: Bool, dirOld: Bool) {
    (false, true, false, true)
  }
  /// The per-mount atime words mountinfo shows for the option.
  class var mountinfoWords: [String] { ["relatime"] }

  override class var mountOptions: [String] {
    super.mountOptions + (atimeOption.map { [$0] } ?? [])
  }
  override class var tmpfsOptions: [String] { atimeOption.map { [$0] } ?? [] }

  /// Whether the step moved atime of `path`, after setting it `offset` seconds from now.
  private func moves(_ t: Side, _ path: String, offset: Int, _ step: () -> Void) -> Bool {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    let set = timespec(tv_sec: now.tv_sec + offset, tv_nsec: 0)
    let omit = timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)  // UTIME_OMIT
    guard t.utimens(path, set, omit) == "OK", let before = t.stat(path)?.st_atim else {
      return false
    }
    step()
    guard let after = t.stat(path)?.st_atim else { return false }
    return before.tv_sec != after.tv_sec || before.tv_nsec != after.tv_nsec
  }

  func readsAndListingsMoveAtimeAsOnTmpfs() {
    let want = Self.expected
    sideBySide { t in
      t.put("f", "data")
      _ = t.mkdir("d")
      t.put("d/x", "x")
      t.check("first read of a new file", t.get("f"), "data")
      t.check(
        "atime an hour ahead, read", moves(t, "f", offset: 3600) { _ = t.get("f") },
        want.fileAhead)
      // The data is in the kernel's page cache now: the read must still reach
      // the daemon whenever atime is due to move.
      t.check(
        "atime an hour ahead, read again", moves(t, "f", offset: 3600) { _ = t.get("f") },
        want.fileAhead)
      t.check(
        "atime two days old, read", moves(t, "f", offset: -2 * 86400) { _ = t.get("f") },
        want.fileOld)
      t.check(
        "atime two days old, read again", moves(t, "f", offset: -2 * 86400) { _ = t.get("f") },
        want.fileOld)
      t.check(
        "directory atime an hour ahead, listed", moves(t, "d", offset: 3600) { _ = t.ls("d") },
        want.dirAhead)
      t.check(
        "directory atime two days old, listed",
        moves(t, "d", offset: -2 * 86400) { _ = t.ls("d") }, want.dirOld)
      t.check(
        "directory atime two days old, listed again",
        moves(t, "d", offset: -2 * 86400) { _ = t.ls("d") }, want.dirOld)
      // A write is not an access: atime stays.
      t.check(
        "atime two days old, write",
        moves(t, "f", offset: -2 * 86400) {
          t.withFD("f", O_WRONLY | O_APPEND) { fd in _ = writeAll(fd, [0x41]) }
        }, false)
    }
  }

  func mountinfoShowsTheAtimeFlags() throws {
    let atimeWords: Set = ["noatime", "relatime", "nodiratime", "strictatime"]
    func words(_ path: String) throws -> [String] {
      let options = try XCTUnwrap(perMountOptions(path), "\(path) in mountinfo")
      return options.split(separator: ",").map(String.init).filter { atimeWords.contains($0) }
    }
    XCTAssertEqual(try words(tmpfs.path).sorted(), Self.mountinfoWords.sorted(), "tmpfs")
    XCTAssertEqual(try words(vfs.path).sorted(), Self.mountinfoWords.sorted(), "vfsmount")
  }
}

final class AtimeRelatimeTests: AtimeTestCase {
  func testReadsAndListingsMoveAtimeAsOnTmpfs() { readsAndListingsMoveAtimeAsOnTmpfs() }
  func testMountinfoShowsTheAtimeFlags() throws { try mountinfoShowsTheAtimeFlags() }
}

final class AtimeExplicitRelatimeTests: AtimeTestCase {
  func testReadsAndListingsMoveAtimeAsOnTmpfs() { readsAndListingsMoveAtimeAsOnTmpfs() }
  func testMountinfoShowsTheAtimeFlags() throws { try mountinfoShowsTheAtimeFlags() }
  override class var atimeOption: String? { "relatime" }
}

final class AtimeNoatimeTests: AtimeTestCase {
  func testReadsAndListingsMoveAtimeAsOnTmpfs() { readsAndListingsMoveAtimeAsOnTmpfs() }
  func testMountinfoShowsTheAtimeFlags() throws { try mountinfoShowsTheAtimeFlags() }
  override class var atimeOption: String? { "noatime" }
  override class var expected: (fileAhead: Bool, fileOld: Bool, dirAhead: Bool, dirOld: Bool) {
    (false, false, false, false)
  }
  override class var mountinfoWords: [String] { ["noatime"] }
}

final class AtimeStrictatimeTests: AtimeTestCase {
  func testReadsAndListingsMoveAtimeAsOnTmpfs() { readsAndListingsMoveAtimeAsOnTmpfs() }
  func testMountinfoShowsTheAtimeFlags() throws { try mountinfoShowsTheAtimeFlags() }
  override class var atimeOption: String? { "strictatime" }
  override class var expected: (fileAhead: Bool, fileOld: Bool, dirAhead: Bool, dirOld: Bool) {
    (true, true, true, true)
  }
  override class var mountinfoWords: [String] { [] }
}

final class AtimeNodiratimeTests: AtimeTestCase {
  func testReadsAndListingsMoveAtimeAsOnTmpfs() { readsAndListingsMoveAtimeAsOnTmpfs() }
  func testMountinfoShowsTheAtimeFlags() throws { try mountinfoShowsTheAtimeFlags() }
  override class var atimeOption: String? { "nodiratime" }
  override class var expected: (fileAhead: Bool, fileOld: Bool, dirAhead: Bool, dirOld: Bool) {
    (false, true, false, false)
  }
  override class var mountinfoWords: [String] { ["nodiratime", "relatime"] }
}

final class AtimeStrictNodiratimeTests: AtimeTestCase {
  func testReadsAndListingsMoveAtimeAsOnTmpfs() { readsAndListingsMoveAtimeAsOnTmpfs() }
  func testMountinfoShowsTheAtimeFlags() throws { try mountinfoShowsTheAtimeFlags() }
  override class var atimeOption: String? { "strictatime,nodiratime" }
  override class var expected: (fileAhead: Bool, fileOld: Bool, dirAhead: Bool, dirOld: Bool) {
    (true, true, false, false)
  }
  override class var mountinfoWords: [String] { ["nodiratime"] }
}

/// Field 6 of the mountinfo line of the topmost mount on `path`: the
/// per-mount options (rw or ro, nosuid, nodev, noexec, the atime flags).
func perMountOptions(_ path: String) -> String? {
  guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else {
    return nil
  }
  let escaped = Substring(path.replacingOccurrences(of: " ", with: "\\040"))
  for line in text.split(separator: "\n").reversed() {
    let fields: [Substring] = line.split(separator: " ")
    if fields.count > 5, fields[4] == escaped { return String(fields[5]) }
  }
  return nil
}

/// What the daemon cannot see, asserted so that a change shows (README,
/// "Known differences"): reads the kernel serves from its page cache within
/// one open file, and a bind mount's own atime flags.
final class AtimeKnownDifferenceTests: XCTestCase {
  private var mounts: [VfsMount] = []
  private var tmpfsMounts: [TmpfsMount] = []
  private var binds: [String] = []

  override func tearDown() {
    for path in binds.reversed() {
      if umount2(path, 0) != 0 { umount2(path, Int32(MNT_DETACH)) }
      rmdir(path)
    }
    for m in mounts { m.unmount() }
    for t in tmpfsMounts { t.unmount() }
    super.tearDown()
  }

  private func mountPair(_ options: [String]) throws -> (vfs: String, tmpfs: String) {
    do {
      let v = try VfsMount(options: options)
      mounts.append(v)
      let t = try TmpfsMount(options: options)
      tmpfsMounts.append(t)
      return (v.path, t.path)
    } catch {
      if MountTestCase.isCI { throw error }
      throw XCTSkip("cannot mount: \(error)")
    }
  }

  /// Sets the atime of `path` `offset` seconds from now; its atime after `step`.
  private func atimeMoves(_ path: String, offset: Int, _ step: () -> Void) -> Bool {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    var times = [
      timespec(tv_sec: now.tv_sec + offset, tv_nsec: 0),
      timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2),
    ]
    guard utimensat(AT_FDCWD, path, &times, 0) == 0, let before = statPath(path)?.st_atim.tv_sec
    else { return false }
    step()
    return statPath(path)?.st_atim.tv_sec != before
  }

  func testSecondReadThroughOneOpenFileUnderStrictatime() throws {
    let (v, t) = try mountPair(["strictatime"])
    var moved: [Bool] = []
    for dir in [v, t] {
      let f = dir + "/f"
      XCTAssertEqual(sh("echo data > \(shq(f))").status, 0)
      let fd = open(f, O_RDONLY)
      defer { close(fd) }
      XCTAssertNotNil(MountTests.pread(fd, count: 4, at: 0))
      moved.append(atimeMoves(f, offset: 3600) { _ = MountTests.pread(fd, count: 4, at: 0) })
    }
    XCTAssertEqual(moved, [false, true], "vfsmount, tmpfs: the page cache served vfsmount's read")
  }

  func testBindMountWithOtherAtimeFlags() throws {
    let (v, t) = try mountPair([])
    var moved: [Bool] = []
    for dir in [v, t] {
      let bind = try makeTempDir("bind")
      binds.append(bind)
      let r = runCommand("mount", ["--bind", "-o", "noatime", dir, bind], timeout: 10)
      XCTAssertEqual(r.status, 0, "mount --bind -o noatime: \(r)")
      XCTAssertEqual(perMountOptions(bind), "rw,noatime")
      XCTAssertEqual(sh("echo data > \(shq(bind))/f").status, 0)
      moved.append(atimeMoves(bind + "/f", offset: -2 * 86400) { _ = sh("cat \(shq(bind))/f") })
    }
    XCTAssertEqual(
      moved, [true, false], "vfsmount, tmpfs: the daemon applies the original mount's relatime")
  }
}
