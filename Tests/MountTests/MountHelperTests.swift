import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// vfsmount as mount(8) runs it: `mount -t fuse.vfsmount`, an fstab line, the
/// generic options, fsname= and subtype=. mount(8) runs /sbin/mount.fuse3,
/// which runs `vfsmount SOURCE DIR -o OPTIONS` through /bin/sh. mount(8) drops
/// PATH from the helper's environment, so the shell finds vfsmount only in its
/// default PATH: the tests link the built binary as /usr/local/bin/vfsmount
/// (as an install would put it) and put back what was there in teardown.
final class MountHelperTests: XCTestCase {
  private static let installed = "/usr/local/bin/vfsmount"
  private var savedInstall: String?
  private var linkedInstall = false
  private var mountPoints: [String] = []
  private var tmpfsMounts: [TmpfsMount] = []
  private var files: [String] = []

  override func setUpWithError() throws {
    try super.setUpWithError()
    guard access("/dev/fuse", F_OK) == 0, which("mount.fuse3") != nil else {
      if MountTestCase.isCI { throw SupportError("/dev/fuse or mount.fuse3 is missing") }
      throw XCTSkip("/dev/fuse or mount.fuse3 is missing")
    }
    let built = vfsmountPath()
    let target =
      built.hasPrefix("/") ? built : FileManager.default.currentDirectoryPath + "/" + built
    if let current = try? FileManager.default.destinationOfSymbolicLink(atPath: Self.installed),
      current == target
    {
      return
    }
    if access(Self.installed, F_OK) == 0
      || (try? FileManager.default.destinationOfSymbolicLink(
        atPath: Self.installed)) != nil
    {
      let saved = Self.installed + ".saved-by-tests"
      guard Glibc.rename(Self.installed, saved) == 0 else {
        throw SupportError("cannot move \(Self.installed) aside: \(errnoName(errno))")
      }
      savedInstall = saved
    }
    guard Glibc.symlink(target, Self.installed) == 0 else {
      throw SupportError("cannot link \(Self.installed): \(errnoName(errno))")
    }
    linkedInstall = true
  }

  override func tearDownWithError() throws {
    for path in mountPoints.reversed() {
      if let m = MountInfo.at(path), m.fsType.hasPrefix("fuse") {
        if umount2(path, 0) != 0 {
          abortConnection(minor: m.minor)
          umount2(path, Int32(MNT_DETACH))
        }
      }
      rmdir(path)
    }
    for t in tmpfsMounts { t.unmount() }
    for f in files { unlink(f) }
    if linkedInstall { unlink(Self.installed) }
    if let saved = savedInstall { Glibc.rename(saved, Self.installed) }
    try super.tearDownWithError()
  }

  private func newMountPoint() throws -> String {
    let path = try makeTempDir("helper")
    mountPoints.append(path)
    return path
  }

  /// df's size of the file system at `path`, in bytes.
  private func dfBytes(_ path: String) -> UInt64? {
    statvfsPath(path).map { UInt64($0.f_blocks) * UInt64($0.f_frsize) }
  }

  func testMountDashT() throws {
    let dir = try newMountPoint()
    let r = runCommand(
      "mount", ["-t", "fuse.vfsmount", "none", dir, "-o", "size=1g,noatime"], timeout: 30)
    XCTAssertEqual(r.status, 0, "mount -t fuse.vfsmount: \(r)")
    let m = try XCTUnwrap(MountInfo.at(dir), "mounted")
    XCTAssertEqual(m.fsType, "fuse.vfsmount")
    XCTAssertEqual(m.source, "none", "the SOURCE argument, as a kernel mount shows it")
    let tmpfs = try TmpfsMount(options: ["size=1g", "noatime"])
    tmpfsMounts.append(tmpfs)
    XCTAssertEqual(
      perMountOptions(dir), perMountOptions(tmpfs.path), "per-mount options as on tmpfs")
    XCTAssertEqual(perMountOptions(dir), "rw,noatime")
    XCTAssertEqual(dfBytes(dir), 1 << 30, "df: size=1g")
    XCTAssertEqual(dfBytes(dir), dfBytes(tmpfs.path), "df as on tmpfs")
    let f = runCommand("findmnt", ["-n", "-o", "SOURCE,FSTYPE", dir])
    XCTAssertEqual(
      f.stdout.split(separator: " ").filter { !$0.isEmpty }.map {
        $0.trimmingCharacters(in: .whitespacesAndNewlines)
      },
      ["none", "fuse.vfsmount"], "findmnt: \(f)")
    XCTAssertEqual(sh("echo hi > \(shq(dir))/f && cat \(shq(dir))/f").out, "hi", "the mount works")
    XCTAssertEqual(
      sh("head -n 1 \(shq(dir))/proc/mounts").out, "none / memfs rw,size=1g 0 0",
      "the tree's own /proc/mounts shows the source too")
    let u = runCommand("umount", [dir], timeout: 30)
    XCTAssertEqual(u.status, 0, "umount: \(u)")
    XCTAssertNil(MountInfo.at(dir), "unmounted")
  }

  func testFstabLine() throws {
    let dir = try newMountPoint()
    let fstab = try makeTempDir("fstab") + "/fstab"
    files.append(fstab)
    defer { rmdir((fstab as NSString).deletingLastPathComponent) }
    let line =
      "scratch  \(dir)  fuse.vfsmount  size=2g,nodiratime,bare,uid=1000,gid=1000,_netdev,defaults  0  0\n"
    try line.write(toFile: fstab, atomically: true, encoding: .utf8)
    let r = runCommand("mount", ["-T", fstab, dir], timeout: 30)
    XCTAssertEqual(r.status, 0, "mount -T \(fstab) \(dir): \(r)")
    let m = try XCTUnwrap(MountInfo.at(dir), "mounted")
    XCTAssertEqual(m.fsType, "fuse.vfsmount")
    XCTAssertEqual(m.source, "scratch")
    XCTAssertEqual(perMountOptions(dir), "rw,nodiratime,relatime")
    XCTAssertEqual(dfBytes(dir), 2 << 30, "df: size=2g")
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "bare: empty root")
    let st = try XCTUnwrap(statPath(dir))
    XCTAssertEqual([st.st_uid, st.st_gid], [1000, 1000], "uid= and gid= from the fstab line")
    XCTAssertEqual(runCommand("umount", [dir], timeout: 30).status, 0)
  }

  func testFsnameAndSubtype() throws {
    let dir = try newMountPoint()
    let r = runCommand(
      vfsmountPath(), ["my,data", dir, "-o", "subtype=scratchfs,ro,nosuid,nodev,noexec"],
      timeout: 30)
    XCTAssertEqual(r.status, 0, "vfsmount: \(r)")
    let m = try XCTUnwrap(MountInfo.at(dir), "mounted")
    XCTAssertEqual(m.fsType, "fuse.scratchfs")
    XCTAssertEqual(m.source, "my,data", "a comma in SOURCE stays in it")
    XCTAssertEqual(perMountOptions(dir), "ro,nosuid,nodev,noexec,relatime")
    XCTAssertEqual(result(creat(dir + "/f", 0o644)), "EROFS", "ro")
    XCTAssertEqual(runCommand("umount", [dir], timeout: 30).status, 0)
  }

  func testDefaultSourceAndType() throws {
    let dir = try newMountPoint()
    XCTAssertEqual(runCommand(vfsmountPath(), [dir], timeout: 30).status, 0)
    let m = try XCTUnwrap(MountInfo.at(dir), "mounted")
    XCTAssertEqual([m.source, m.fsType], ["vfsmount", "fuse.vfsmount"])
    XCTAssertEqual(runCommand("umount", [dir], timeout: 30).status, 0)
    let named = runCommand(vfsmountPath(), ["-o", "fsname=my data", "src", dir], timeout: 30)
    XCTAssertEqual(named.status, 0, "\(named)")
    XCTAssertEqual(MountInfo.at(dir)?.source, "my data", "fsname= wins over SOURCE")
    XCTAssertEqual(runCommand("umount", [dir], timeout: 30).status, 0)
  }

  /// Every option mount.fuse3 may pass is taken; the later of a pair wins.
  func testGenericOptionsAccepted() throws {
    let dir = try newMountPoint()
    let options = [
      "defaults", "_netdev", "lazytime", "nolazytime", "ro", "rw", "nosuid", "suid", "nodev", "dev",
      "noexec", "exec", "sync", "async", "dirsync", "noatime", "atime", "strictatime",
      "nostrictatime", "relatime", "norelatime", "nodiratime", "diratime",
    ]
    let r = runCommand(
      vfsmountPath(), ["none", dir, "-o", options.joined(separator: ",")], timeout: 30)
    XCTAssertEqual(r.status, 0, "vfsmount: \(r)")
    XCTAssertEqual(r.stderr, "")
    XCTAssertNotNil(MountInfo.at(dir), "mounted")
    XCTAssertEqual(perMountOptions(dir), "rw,relatime")
    let fd = creat(dir + "/f", 0o644)
    XCTAssertGreaterThanOrEqual(fd, 0, "rw won over ro: \(errnoName(errno))")
    close(fd)
    XCTAssertEqual(runCommand("umount", [dir], timeout: 30).status, 0)
  }

  /// `mount -o remount,noatime DIR` runs the helper with `remount`: vfsmount
  /// changes the mount's flags, and the daemon follows them from the mount
  /// table. It sees the change a moment after mount(8) returns, so the test
  /// waits (up to 10 s) for the new behaviour rather than for a time.
  func testRemountChangesAtimeFlags() throws {
    let dir = try newMountPoint()
    XCTAssertEqual(
      runCommand("mount", ["-t", "fuse.vfsmount", "none", dir, "-o", "bare"], timeout: 30).status, 0
    )
    let f = dir + "/f"
    XCTAssertEqual(sh("echo data > \(shq(f))").status, 0)
    /// Whether a read moves an atime set `offset` seconds from now.
    func readMoves(offset: Int) -> Bool {
      var now = timespec()
      clock_gettime(CLOCK_REALTIME, &now)
      var times = [
        timespec(tv_sec: now.tv_sec + offset, tv_nsec: 0),
        timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2),
      ]
      guard utimensat(AT_FDCWD, f, &times, 0) == 0, let before = statPath(f)?.st_atim.tv_sec else {
        return false
      }
      _ = sh("cat \(shq(f))")
      return statPath(f)?.st_atim.tv_sec != before
    }
    func eventually(_ condition: () -> Bool) -> Bool {
      let deadline = Date().addingTimeInterval(10)
      while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
      }
      return false
    }
    XCTAssertTrue(readMoves(offset: -2 * 86400), "relatime at first")
    XCTAssertFalse(readMoves(offset: 3600), "relatime at first")

    let r = runCommand("mount", ["-o", "remount,noatime", dir], timeout: 30)
    XCTAssertEqual(r.status, 0, "mount -o remount,noatime: \(r)")
    XCTAssertEqual(perMountOptions(dir), "rw,noatime")
    XCTAssertTrue(eventually { !readMoves(offset: -2 * 86400) }, "noatime after the remount")

    XCTAssertEqual(runCommand("mount", ["-o", "remount,strictatime", dir], timeout: 30).status, 0)
    XCTAssertEqual(perMountOptions(dir), "rw")
    XCTAssertTrue(eventually { readMoves(offset: 3600) }, "strictatime after the remount")
    XCTAssertTrue(readMoves(offset: -2 * 86400), "strictatime")

    let size = runCommand("mount", ["-o", "remount,size=3g", dir], timeout: 30)
    XCTAssertNotEqual(size.status, 0, "size= cannot change on a live mount: \(size)")
    XCTAssertTrue(
      size.stderr.contains("vfsmount: option size cannot change on a remount"), size.stderr)
    XCTAssertEqual(perMountOptions(dir), "rw", "the flags stay")
    XCTAssertEqual(runCommand("umount", [dir], timeout: 30).status, 0)
  }

  /// mount.fuse3's drop_privileges: it mounts, then runs `vfsmount SOURCE
  /// /dev/fd/N` without capabilities. Only with default_permissions given,
  /// since mount.fuse3 makes that mount without the one vfsmount adds.
  func testDropPrivileges() throws {
    let dir = try newMountPoint()
    let refused = runCommand(
      "mount", ["-t", "fuse.vfsmount", "none", dir, "-o", "drop_privileges"], timeout: 30)
    XCTAssertNotEqual(refused.status, 0, "\(refused)")
    XCTAssertTrue(
      refused.stderr.contains("vfsmount: with drop_privileges, give default_permissions too"),
      refused.stderr)
    if MountInfo.at(dir) != nil { XCTAssertEqual(umount2(dir, 0), 0, "the dead mount goes") }

    let r = runCommand(
      "mount",
      ["-t", "fuse.vfsmount", "none", dir, "-o", "size=1g,drop_privileges,default_permissions"],
      timeout: 30)
    XCTAssertEqual(r.status, 0, "\(r)")
    let m = try XCTUnwrap(MountInfo.at(dir), "mounted")
    XCTAssertEqual(m.fsType, "fuse.vfsmount")
    XCTAssertTrue(m.superOptions.contains("default_permissions"), m.superOptions)
    XCTAssertEqual(dfBytes(dir), 1 << 30, "df: size=1g")
    XCTAssertEqual(sh("echo hi > \(shq(dir))/f && cat \(shq(dir))/f").out, "hi", "the mount works")
    XCTAssertEqual(runCommand("umount", [dir], timeout: 30).status, 0)
  }

  func testUnknownOptionIsOneLineError() throws {
    let dir = try newMountPoint()
    let direct = runCommand(vfsmountPath(), ["none", dir, "-o", "size=1g,bogus"], timeout: 30)
    XCTAssertNotEqual(direct.status, 0)
    XCTAssertEqual(direct.stderr, "vfsmount: unknown mount option 'bogus'\n")
    let viaMount = runCommand(
      "mount", ["-t", "fuse.vfsmount", "none", dir, "-o", "size=1g,bogus"], timeout: 30)
    XCTAssertNotEqual(viaMount.status, 0, "mount: \(viaMount)")
    XCTAssertTrue(
      viaMount.stderr.contains("vfsmount: unknown mount option 'bogus'"), "mount: \(viaMount)")
    XCTAssertNil(MountInfo.at(dir), "nothing mounted")
  }
}
