import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Who owns the root: the user who mounts (as on tmpfs, whose root gets the
/// mounter's fsuid), unless uid= and gid= say otherwise.
final class MountOwnerTests: XCTestCase {
  private var fuseMode: mode_t?
  private var mountPoint: String?
  private var daemon: Child?

  private static let user = ["--reuid=1000", "--regid=1000", "--clear-groups"]

  override func setUpWithError() throws {
    try super.setUpWithError()
    guard let st = statPath("/dev/fuse") else {
      if MountTestCase.isCI { throw SupportError("/dev/fuse is missing") }
      throw XCTSkip("/dev/fuse is missing")
    }
    fuseMode = st.st_mode & 0o7777
  }

  override func tearDownWithError() throws {
    if let path = mountPoint {
      if let m = MountInfo.at(path), m.fsType.hasPrefix("fuse") {
        runCommand("setpriv", Self.user + ["fusermount3", "-u", "-z", path], timeout: 10)
        if MountInfo.at(path) != nil, umount2(path, Int32(MNT_DETACH)) != 0 {
          abortConnection(minor: m.minor)
        }
      }
      if let daemon, daemon.wait(timeout: 5) == nil {
        daemon.signal(SIGKILL)
        daemon.wait(timeout: 5)
      }
      rmdir(path)
    }
    if let mode = fuseMode { chmod("/dev/fuse", mode) }
    try super.tearDownWithError()
  }

  /// As on stock Debian: /dev/fuse 0666 and a setuid-root fusermount3.
  func testUnprivilegedMountIsOwnedByTheUser() throws {
    let fusermount = try XCTUnwrap(which("fusermount3"), "fusermount3 is installed")
    let fm = try XCTUnwrap(statPath(fusermount))
    XCTAssertEqual(fm.st_uid, 0, "\(fusermount) belongs to root")
    XCTAssertNotEqual(fm.st_mode & S_ISUID, 0, "\(fusermount) is setuid")
    XCTAssertEqual(chmod("/dev/fuse", 0o666), 0)

    let dir = try makeTempDir("owner")
    mountPoint = dir
    XCTAssertEqual(chown(dir, 1000, 1000), 0)
    // The binary must be reachable by uid 1000 (the build tree is 0755).
    let child = try Child("/usr/bin/setpriv", Self.user + [vfsmountPath(), "-f", "none", dir])
    daemon = child
    let deadline = Date().addingTimeInterval(15)
    while MountInfo.at(dir) == nil, child.wait(timeout: 0) == nil, Date() < deadline {
      usleep(20_000)
    }
    let m = try XCTUnwrap(MountInfo.at(dir), "vfsmount as uid 1000 mounted: \(child.stderr)")
    XCTAssertTrue(m.superOptions.contains("user_id=1000"), m.superOptions)

    let st = runCommand("setpriv", Self.user + ["stat", "-c", "%u:%g", dir], timeout: 10)
    XCTAssertEqual(st.stdout, "1000:1000\n", "the root belongs to who mounted: \(st)")
    let made = runCommand(
      "setpriv", Self.user + ["sh", "-c", "echo x > \(shq(dir))/f && stat -c %u:%g \(shq(dir))/f"],
      timeout: 10)
    XCTAssertEqual(made.stdout, "1000:1000\n", "and the user can write in it: \(made)")

    let u = runCommand("setpriv", Self.user + ["fusermount3", "-u", dir], timeout: 10)
    XCTAssertEqual(u.status, 0, "fusermount3 -u as the user: \(u)")
    XCTAssertEqual(child.wait(timeout: 10), 0, "the daemon exits 0: \(child.stderr)")
    XCTAssertNil(MountInfo.at(dir))
  }

  func testUidAndGidOverrideTheOwner() throws {
    let m = try VfsMount(options: ["uid=1234", "gid=2345"])
    defer { m.unmount() }
    let st = try XCTUnwrap(statPath(m.path))
    XCTAssertEqual([st.st_uid, st.st_gid], [1234, 2345])
  }

  func testRootMountIsOwnedByRoot() throws {
    let m = try VfsMount()
    defer { m.unmount() }
    let st = try XCTUnwrap(statPath(m.path))
    XCTAssertEqual([st.st_uid, st.st_gid], [0, 0])
  }
}
