import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The vfsprobe helper itself: privilege dropping, output format, usage errors.
final class VfsprobeTests: XCTestCase {
  private func probe(_ args: [String]) -> RunResult {
    MountTests.run(vfsprobePath(), args, timeout: 20)
  }

  func testDropsPrivileges() {
    XCTAssertEqual(
      probe(["--uid", "1000", "--gid", "1000", "id"]).stdout, "OK uid=1000 gid=1000 groups=\n")
    XCTAssertEqual(
      probe(["--uid", "1000", "--gid", "1000", "--groups", "5,6", "id"]).stdout,
      "OK uid=1000 gid=1000 groups=5,6\n")
    XCTAssertEqual(probe(["--uid", "4321", "id"]).stdout, "OK uid=4321 gid=0 groups=\n")
    let dropped = probe([
      "--uid", "1000", "--gid", "1000", "chown", "/tmp", "0", "0", ";", "mkdir", "/proc/nope",
      "755",
    ])
    XCTAssertEqual(dropped.stdout, "EPERM\nENOENT\n", "no capabilities are left: \(dropped)")
  }

  func testOperationsAndFormat() throws {
    let dir = try makeTempDir("probe")
    defer { _ = MountTests.sh("rm -rf \(shq(dir))") }
    let f = dir + "/f"
    let r = probe([
      "create", f, "640", ";", "write", f, "a\nb\\", ";", "read", f, ";", "stat", f, ";", "append",
      f, "!", ";",
      "read", f, ";", "open", f, "wronly,creat,excl", ";", "setxattr", f, "user.k", "v", "create",
      ";",
      "setxattr", f, "user.k", "w", "create", ";", "getxattr", f, "user.k", ";", "listxattr", f,
      ";",
      "removexattr", f, "user.k", ";", "getxattr", f, "user.k", ";", "symlink", "f", dir + "/l",
      ";",
      "readlink", dir + "/l", ";", "lstat", dir + "/l", ";", "list", dir, ";", "mknod", dir + "/p",
      "fifo", "600",
      ";", "utimens", f, "1.5", "omit", ";", "truncate", f, "1", ";", "read", f, ";", "rename", f,
      dir + "/g", ";",
      "link", dir + "/g", dir + "/h", ";", "unlink", dir + "/h", ";", "mkdir", dir + "/d", "700",
      ";", "rmdir",
      dir + "/d", ";", "chmod", dir + "/g", "600", ";", "chown", dir + "/g", "7", "-1", ";",
      "access", dir + "/g", "r",
      ";", "open", dir + "/none", "rdonly",
    ])
    XCTAssertEqual(r.status, 0, "\(r)")
    XCTAssertEqual(
      r.stdout.split(separator: "\n").map(String.init),
      [
        "OK", "OK", "OK a\\nb\\\\", "OK mode=100640 uid=0 gid=0 size=4 nlink=1", "OK",
        "OK a\\nb\\\\!", "EEXIST", "OK",
        "EEXIST", "OK v", "OK user.k", "OK", "ENODATA", "OK", "OK f",
        "OK mode=120777 uid=0 gid=0 size=1 nlink=1",
        "OK f,l", "OK", "OK", "OK", "OK a", "OK", "OK", "OK", "OK", "OK", "OK", "OK", "OK",
        "ENOENT",
      ])
    XCTAssertEqual(statPath(dir + "/g").map { $0.st_uid }, 7)
    XCTAssertEqual(statPath(dir + "/p").map { typeName($0.st_mode) }, "fifo")
  }

  func testUsageErrors() {
    for args in [
      ["bogus"], [], ["read"], ["--uid"], ["--uid", "x", "id"], ["open", "/tmp", "sideways"],
      ["chmod", "/tmp", "9z"],
    ] {
      let r = probe(args)
      XCTAssertEqual(r.status, 2, "\(args): exit 2 (\(r))")
      XCTAssertTrue(r.stderr.hasPrefix("vfsprobe: "), "\(args): a message on stderr")
      XCTAssertEqual(r.stdout, "", "\(args): nothing on stdout")
    }
  }
}
