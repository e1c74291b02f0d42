import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// `-o bare`: no /dev and /proc in the root, so the root starts empty and
/// `rm -rf MOUNT/*` empties it, as on a tmpfs (test suites written for tmpfs
/// do that between cases).
final class BareRootTests: ConformanceTestCase {
  override class var mountOptions: [String] { super.mountOptions + ["bare"] }
  override class var preparesMount: Bool { false }

  func testRootStartsEmptyAndEmptiesWithRmRf() {
    sideBySide { t in
      t.check("a new root is empty", t.ls(), "")
      t.check("mkdir", t.mkdir("dev"), "OK")
      t.put("dev/null", "not a device")
      t.put("f", "x")
      _ = t.mkdir("proc")
      t.check("listing", t.ls(), "dev,f,proc")
      let r = t.sh("rm -rf \(shq(t.mount))/*")
      t.check("rm -rf MOUNT/* succeeds", r.status, 0)
      t.check("stderr", r.stderr, "")
      t.check("the root is empty again", t.ls(), "")
      t.check("no inodes but the root", t.statfs().map { $0.f_files - $0.f_ffree }, 1)
    }
  }

  func testWithoutBareTheTreeHasDevAndProc() throws {
    let m = try VfsMount(options: ["allow_other"])
    defer { m.unmount() }
    let names = try FileManager.default.contentsOfDirectory(atPath: m.path).sorted()
    XCTAssertEqual(names, ["dev", "proc"])
    XCTAssertNotEqual(rmdir(m.path + "/dev"), 0, "dev is a mount point")
    XCTAssertEqual(errno, EBUSY)
  }
}
