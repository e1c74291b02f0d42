import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The fixture itself: what it mounts, and that teardown always leaves nothing behind.
final class FixtureTests: MountTestCase {
  override class var usesTmpfs: Bool { false }

  func testExecutablesAreFound() {
    XCTAssertEqual(access(vfsmountPath(), X_OK), 0, vfsmountPath())
    XCTAssertEqual(access(vfsprobePath(), X_OK), 0, vfsprobePath())
  }

  func testMountIsFuseAndAlive() throws {
    let m = try XCTUnwrap(MountInfo.at(vfs.path))
    XCTAssertTrue(m.fsType.hasPrefix("fuse"), m.fsType)
    XCTAssertEqual(m.major, 0, "FUSE mounts have an anonymous device")
    XCTAssertTrue(vfs.isMounted)
    XCTAssertNil(vfs.waitForExit(timeout: 0), "the daemon runs")
  }

  func testUnmountIsIdempotentAndRemovesTheDirectory() {
    let path = vfs.path
    vfs.unmount()
    XCTAssertFalse(vfs.isMounted)
    XCTAssertNotNil(vfs.waitForExit(timeout: 0), "the daemon is gone")
    XCTAssertNotEqual(access(path, F_OK), 0, "the mount point is removed")
    vfs.unmount()
    XCTAssertNil(MountInfo.at(path))
  }

  func testStoppedDaemonIsCleanedUp() {
    let path = vfs.path
    XCTAssertEqual(kill(vfs.pid, SIGSTOP), 0)
    let start = Date()
    vfs.unmount()
    XCTAssertLessThan(
      Date().timeIntervalSince(start), 30, "teardown does not hang on a stopped daemon")
    XCTAssertNil(MountInfo.at(path), "nothing left mounted")
    XCTAssertNotNil(vfs.waitForExit(timeout: 0), "the daemon was killed")
  }

  func testTmpfsTwin() throws {
    let t = try TmpfsMount(options: ["size=1m"])
    XCTAssertEqual(MountInfo.at(t.path)?.fsType, "tmpfs")
    XCTAssertEqual(statvfsPath(t.path).map { Int($0.f_blocks) * Int($0.f_frsize) }, 1 << 20)
    t.unmount()
    t.unmount()
    XCTAssertNil(MountInfo.at(t.path))
    XCTAssertNotEqual(access(t.path, F_OK), 0)
  }

  func testStartFailureReportsStderr() throws {
    XCTAssertThrowsError(try VfsMount(options: ["no_such_option"])) { error in
      XCTAssertTrue(
        "\(error)".contains("no_such_option"), "the error carries vfsmount's stderr: \(error)")
    }
  }
}
