import Foundation
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// What tmpfs with default permissions promises another user, checked as uid 1000
/// (through vfsprobe) on vfsmount, and on a kernel tmpfs beside it where the
/// question makes sense there too.
final class SecurityTests: MountTestCase {
  override class var mountOptions: [String] { ["allow_other"] }

  /// Runs operations in one vfsprobe as `uid` (gid = uid); one output line each.
  func probe(uid: uid_t = 1000, _ ops: [[String]]) -> [String] {
    var args = ["--uid", String(uid), "--gid", String(uid)]
    for (i, op) in ops.enumerated() {
      if i > 0 { args.append(";") }
      args += op
    }
    let r = runCommand(vfsprobePath(), args, timeout: 30)
    var lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    if r.status != 0 { lines.append("exit \(r.status): \(r.stderr)") }
    return lines
  }

  /// Each case's expected line, on every mount given (`$` in a path is the mount).
  func expect(
    _ mounts: [String], uid: uid_t = 1000, _ cases: [([String], String)],
    file: StaticString = #filePath, line: UInt = #line
  ) {
    for m in mounts {
      let ops = cases.map { c in c.0.map { $0.replacingOccurrences(of: "$", with: m) } }
      let got = probe(uid: uid, ops)
      for (i, c) in cases.enumerated() {
        XCTAssertEqual(
          i < got.count ? got[i] : "(no output)", c.1,
          "\(m == vfs.path ? "vfsmount" : "tmpfs"): uid \(uid) \(c.0.joined(separator: " "))",
          file: file, line: line)
      }
    }
  }

  func put(_ path: String, _ text: String, mode: mode_t, uid: uid_t = 0) {
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(text.utf8)), path)
    XCTAssertEqual(chown(path, uid, uid), 0)
    XCTAssertEqual(chmod(path, mode), 0)
  }

  func makeDir(_ path: String, mode: mode_t, uid: uid_t = 0) {
    XCTAssertEqual(mkdir(path, 0o700), 0, path)
    XCTAssertEqual(chown(path, uid, uid), 0)
    XCTAssertEqual(chmod(path, mode), 0)
  }

  func verdict() -> String? {
    try? String(contentsOfFile: vfs.path + "/proc/vfs/check", encoding: .utf8)
  }

  // MARK: - Modes

  func testAnotherUserCannotReadWriteOrListWhatModesForbid() {
    let both = [vfs.path, tmpfs.path]
    for m in both {
      XCTAssertEqual(chmod(m, 0o755), 0)
      put(m + "/private", "secret", mode: 0o600)
      put(m + "/readable", "public", mode: 0o644)
      put(m + "/theirs", "mine", mode: 0o600, uid: 2000)
      makeDir(m + "/closed", mode: 0o700)
      put(m + "/closed/inner", "hidden", mode: 0o666)
      makeDir(m + "/noexec", mode: 0o644)
      put(m + "/noexec/f", "f", mode: 0o666)
      makeDir(m + "/sticky", mode: 0o1777)
      put(m + "/sticky/rootfile", "r", mode: 0o666)
    }
    expect(
      both,
      [
        (["read", "$/private"], "EACCES"),
        (["write", "$/private", "x"], "EACCES"),
        (["open", "$/private", "rdonly"], "EACCES"),
        (["truncate", "$/private", "0"], "EACCES"),
        (["read", "$/theirs"], "EACCES"),
        (["read", "$/readable"], "OK public"),
        (["write", "$/readable", "x"], "EACCES"),
        (["append", "$/readable", "x"], "EACCES"),
        (["chmod", "$/readable", "666"], "EPERM"),
        (["chown", "$/readable", "1000", "-1"], "EPERM"),
        (["utimens", "$/readable", "1", "1"], "EPERM"),
        (["setxattr", "$/readable", "user.x", "v"], "EACCES"),
        (["unlink", "$/readable"], "EACCES"),
        (["create", "$/new"], "EACCES"),
        (["mkdir", "$/newdir", "755"], "EACCES"),
        (["list", "$/closed"], "EACCES"),
        (["stat", "$/closed/inner"], "EACCES"),
        (["read", "$/closed/inner"], "EACCES"),
        (["write", "$/closed/inner", "x"], "EACCES"),
        (["list", "$/noexec"], "OK f"),
        (["read", "$/noexec/f"], "EACCES"),
        (["unlink", "$/sticky/rootfile"], "EPERM"),
        (["rename", "$/sticky/rootfile", "$/sticky/mine"], "EPERM"),
        (["write", "$/sticky/rootfile", "ok"], "OK"),
        (["create", "$/sticky/mine"], "OK"),
      ])
    // Nothing changed that was refused.
    for m in both {
      XCTAssertEqual(try? String(contentsOfFile: m + "/private", encoding: .utf8), "secret")
      XCTAssertEqual(try? String(contentsOfFile: m + "/readable", encoding: .utf8), "public")
      XCTAssertEqual(access(m + "/new", F_OK), -1)
      var st = stat()
      XCTAssertEqual(stat(m + "/readable", &st), 0)
      XCTAssertEqual(st.st_mode & 0o7777, 0o644)
      XCTAssertEqual(st.st_uid, 0)
    }
    XCTAssertEqual(verdict(), "ok\n")
  }

  // MARK: - Device nodes

  func testOnlyRootMakesDeviceNodes() {
    let both = [vfs.path, tmpfs.path]
    for m in both { XCTAssertEqual(chmod(m, 0o1777), 0) }
    expect(
      both,
      [
        (["mknod", "$/c", "chr", "666", "1", "3"], "EPERM"),
        (["mknod", "$/b", "blk", "666", "8", "0"], "EPERM"),
        (["mknod", "$/p", "fifo", "644"], "OK"),
        (["mknod", "$/f", "reg", "644"], "OK"),
        (["stat", "$/c"], "ENOENT"),
      ])
    // Root may.
    expect(both, uid: 0, [(["mknod", "$/c", "chr", "666", "1", "3"], "OK")])
    XCTAssertEqual(verdict(), "ok\n")
  }

  // MARK: - trusted.* xattrs

  func testTrustedXattrsAreRootsAlone() {
    let both = [vfs.path, tmpfs.path]
    for m in both {
      XCTAssertEqual(chmod(m, 0o1777), 0)
      put(m + "/f", "x", mode: 0o666, uid: 1000)
      XCTAssertEqual(Libc.setxattr(m + "/f", "trusted.secret", "s", 1, 0), 0, "root sets trusted.*")
      XCTAssertEqual(Libc.setxattr(m + "/f", "user.open", "u", 1, 0), 0)
    }
    expect(
      both,
      [
        (["setxattr", "$/f", "trusted.mine", "v"], "EPERM"),
        (["getxattr", "$/f", "trusted.secret"], "ENODATA"),
        (["removexattr", "$/f", "trusted.secret"], "EPERM"),
        (["listxattr", "$/f"], "OK user.open"),
        (["getxattr", "$/f", "user.open"], "OK u"),
        (["setxattr", "$/f", "user.mine", "v"], "OK"),
      ])
    expect(
      both, uid: 0,
      [
        (["getxattr", "$/f", "trusted.secret"], "OK s"),
        (["listxattr", "$/f"], "OK trusted.secret,user.mine,user.open"),
      ])
    XCTAssertEqual(verdict(), "ok\n")
  }

  // MARK: - /proc controls

  func testProcControlsAreRootWritableOnly() {
    let m = vfs.path
    let controls = [
      "proc/sys/vm/drop_caches", "proc/sys/fs/dcache-max", "proc/vfs/reset", "proc/sysrq-trigger",
    ]
    expect(
      [m],
      controls.map { (["write", "$/\($0)", "1"], "EACCES") }
        + controls.map { (["chmod", "$/\($0)", "666"], "EPERM") }
        + [
          (["read", "$/proc/sys/vm/drop_caches"], "EACCES"),
          (["read", "$/proc/vfs/reset"], "EACCES"),
          (["write", "$/proc/vfs/check", "1"], "EACCES"),
          (["create", "$/proc/new"], "EACCES"),
          (["unlink", "$/proc/vfs/check"], "EACCES"),
        ])
    let before = try? String(contentsOfFile: m + "/proc/sys/fs/dcache-max", encoding: .utf8)
    XCTAssertNotNil(before)
    // Root writes the controls; read-only files stay read-only for root too (sysctl_perm).
    expect(
      [m], uid: 0,
      [
        (["write", "$/proc/sys/vm/drop_caches", "2"], "OK"),
        (["write", "$/proc/sys/fs/dcache-max", "5000"], "OK"),
        (["write", "$/proc/sysrq-trigger", "s"], "OK"),
        (["read", "$/proc/sys/fs/dcache-max"], "OK 5000\\n"),
        (["write", "$/proc/vfs/check", "1"], "EACCES"),
        (["write", "$/proc/sys/fs/dentry-state", "1"], "EACCES"),
      ])
    XCTAssertEqual(verdict(), "ok\n")
  }

  // MARK: - allow_other

  func testWithoutAllowOtherAnotherUserCannotEvenStat() throws {
    let private_ = try VfsMount(options: [])
    defer { private_.unmount() }
    XCTAssertEqual(chmod(private_.path, 0o777), 0, "root, the mounter, gets in")
    XCTAssertFalse(
      MountInfo.at(private_.path)?.superOptions.contains("allow_other") ?? true,
      "allow_other is off unless asked for")
    XCTAssertEqual(
      probe([["stat", private_.path], ["list", private_.path], ["create", private_.path + "/x"]]),
      ["EACCES", "EACCES", "EACCES"])
    XCTAssertEqual(probe(uid: 0, [["list", private_.path]]).first?.hasPrefix("OK"), true)
    // With allow_other (this test case's own mount) they can.
    XCTAssertEqual(chmod(vfs.path, 0o1777), 0)
    XCTAssertEqual(
      probe([["stat", vfs.path], ["create", vfs.path + "/x"]]).map { String($0.prefix(2)) },
      ["OK", "OK"])
    XCTAssertEqual(
      try? String(contentsOfFile: private_.path + "/proc/vfs/check", encoding: .utf8), "ok\n")
  }
}
