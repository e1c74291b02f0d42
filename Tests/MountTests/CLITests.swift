import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Runs vfsmount with a timeout; a run that mounted `mountPoint` by mistake is cleaned up.
private func vfsmount(_ args: [String], mountPoint: String? = nil) -> RunResult {
  let r = runCommand(vfsmountPath(), args, timeout: 15)
  if let mountPoint, let m = MountInfo.at(mountPoint), m.fsType.hasPrefix("fuse") {
    runCommand("umount", ["-l", mountPoint])
  }
  return r
}

/// Non-empty lines.
private func lines(_ s: String) -> [Substring] { s.split(separator: "\n").filter { !$0.isEmpty } }

/// The vfsmount command line without a mount: help, version, one-line errors.
final class CLIUsageTests: XCTestCase {

  func testHelpAndVersion() {
    let help = vfsmount(["--help"])
    XCTAssertEqual(help.status, 0, "--help: \(help)")
    XCTAssertTrue(
      help.stdout.lowercased().contains("usage"), "--help prints a usage: \(help.stdout)")
    XCTAssertTrue(help.stdout.contains("-o"), "--help documents -o")
    XCTAssertTrue(help.stdout.contains("size="), "--help lists the mount options")
    XCTAssertEqual(help.stderr, "", "--help writes nothing to stderr")
    let h = vfsmount(["-h"])
    XCTAssertEqual(h.status, 0, "-h: \(h)")
    XCTAssertEqual(h.stdout, help.stdout, "-h is --help")
    let version = vfsmount(["--version"])
    XCTAssertEqual(version.status, 0, "--version: \(version)")
    XCTAssertEqual(lines(version.stdout).count, 1, "--version prints one line: \(version.stdout)")
    XCTAssertTrue(version.stdout.contains("vfsmount"), "--version names the program")
    XCTAssertNotNil(
      version.stdout.range(of: #"[0-9]+\.[0-9]+"#, options: .regularExpression),
      "--version has a number")
  }

  func testBadUsageIsOneLine() throws {
    let dir = try makeTempDir("cli")
    defer { rmdir(dir) }
    let cases: [(String, [String])] = [
      ("an unknown -o option", ["-f", "-o", "bogus_option", dir]),
      ("a bad size", ["-f", "-o", "size=lots", dir]),
      ("a bad nr_inodes", ["-f", "-o", "nr_inodes=-3", dir]),
      ("a bad mode", ["-f", "-o", "mode=99999", dir]),
      ("a value on a flag option", ["-f", "-o", "allow_other=1", dir]),
      ("an unknown flag", ["-f", "--no-such-flag", dir]),
      ("a missing mount point", ["-f", dir + "/does/not/exist"]),
      ("a file as mount point", ["-f", "/etc/hostname"]),
      ("no mount point", ["-f"]),
      ("three arguments", ["-f", "none", dir, dir]),
      ("an empty fsname", ["-f", "-o", "fsname=", dir]),
      ("a value on a generic flag", ["-f", "-o", "noatime=1", dir]),
      ("a busy_poll that is not a number", ["-f", "-o", "busy_poll=fast", dir]),
      ("a busy_poll past a millisecond", ["-f", "-o", "busy_poll=5000", dir]),
    ]
    for (label, args) in cases {
      let r = vfsmount(args, mountPoint: dir)
      XCTAssertNotEqual(r.status, 0, "\(label): exits non-zero (\(r))")
      XCTAssertFalse(r.timedOut, "\(label): exits at once")
      XCTAssertEqual(
        lines(r.stderr).count, 1,
        "\(label): exactly one line on stderr: \(r.stderr.debugDescription)")
      XCTAssertTrue(r.stderr.hasSuffix("\n"), "\(label): the line ends with a newline")
      XCTAssertEqual(r.stdout, "", "\(label): nothing on stdout")
      XCTAssertNil(MountInfo.at(dir), "\(label): nothing mounted")
    }
  }

}

/// The vfsmount command line with a mount: already mounted, signals, unmount.
final class CLIMountTests: MountTestCase {
  override class var usesTmpfs: Bool { false }

  func testAlreadyMounted() throws {
    let r = vfsmount(["-f", vfs.path])
    XCTAssertNotEqual(r.status, 0, "mounting on a mount point fails: \(r)")
    XCTAssertFalse(r.timedOut, "it exits at once")
    XCTAssertEqual(lines(r.stderr).count, 1, "one line on stderr: \(r.stderr.debugDescription)")
    XCTAssertEqual(
      MountInfo.all().filter { $0.mountPoint == vfs.path }.count, 1, "still mounted once")
    XCTAssertTrue(vfs.isMounted, "the first mount is untouched")
    XCTAssertEqual(access(vfs.path, F_OK), 0, "and still answers")
    let probe = vfs.path + "/after"
    let fd = creat(probe, 0o644)
    XCTAssertGreaterThanOrEqual(fd, 0, "and still answers: \(errnoName(errno))")
    close(fd)  // an open file would keep the mount busy at teardown
    XCTAssertEqual(unlink(probe), 0)
  }

  func testSigtermUnmountsAndExitsZero() {
    XCTAssertTrue(vfs.isMounted)
    let f = vfs.path + "/file"
    XCTAssertEqual(
      sh("echo data > \(shq(f)) && cat \(shq(f))").out, "data", "the mount works before the signal")
    XCTAssertEqual(kill(vfs.pid, SIGTERM), 0)
    let status = vfs.waitForExit(timeout: 10)
    XCTAssertEqual(status, 0, "vfsmount exits 0 on SIGTERM (stderr: \(vfs.stderr))")
    XCTAssertFalse(vfs.isMounted, "and is unmounted")
  }

  func testSigintUnmountsAndExitsZero() {
    XCTAssertEqual(kill(vfs.pid, SIGINT), 0)
    XCTAssertEqual(
      vfs.waitForExit(timeout: 10), 0, "vfsmount exits 0 on SIGINT (stderr: \(vfs.stderr))")
    XCTAssertFalse(vfs.isMounted, "and is unmounted")
  }

  func testExternalUnmountEndsTheDaemon() {
    XCTAssertEqual(runCommand("fusermount3", ["-u", vfs.path], timeout: 10).status, 0)
    XCTAssertEqual(
      vfs.waitForExit(timeout: 10), 0,
      "vfsmount exits 0 when unmounted from outside (stderr: \(vfs.stderr))")
    XCTAssertFalse(vfs.isMounted)
  }

  func testMountOptionsReachTheMount() throws {
    let m = try XCTUnwrap(MountInfo.at(vfs.path))
    XCTAssertTrue(m.fsType.hasPrefix("fuse"), "fstype \(m.fsType)")
    XCTAssertTrue(m.superOptions.contains("allow_other"), "allow_other in \(m.superOptions)")
    XCTAssertTrue(
      m.superOptions.contains("default_permissions"), "default_permissions in \(m.superOptions)")
    // The child is the foreground daemon: it stays alive while mounted.
    XCTAssertEqual(kill(vfs.pid, 0), 0)
    XCTAssertNil(vfs.waitForExit(timeout: 0.2))
  }

  func testStderrQuietWhenHealthy() {
    XCTAssertEqual(
      sh("cd \(shq(vfs.path)) && mkdir d && echo x > d/f && cat d/f && rm -r d").out, "x")
    XCTAssertEqual(vfs.stderr, "", "no diagnostics on a healthy mount without -d")
  }
}
