import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The native FUSE engine (`-o engine=native`, Sources/SwiftVFS/Fuse/Engine):
/// it negotiates the kernel's protocol itself, serves on cloned descriptors,
/// and must behave as the libfuse loop does, or as tmpfs where it can do
/// better (HANDLE_KILLPRIV_V2).
final class NativeEngineTests: MountTestCase {
  override class var mountOptions: [String] { ["allow_other", "engine=native"] }

  func testConnectionShowsWhatInitAgreed() throws {
    let c = try fuseConnection(vfs.path)
    let version = c["protocol"]?.split(separator: ".").compactMap { Int($0) } ?? []
    XCTAssertEqual(version.first, 7, "\(c)")
    // 7.36 brought INIT_EXT; the engine speaks up to 7.45.
    XCTAssertTrue((36...45).contains(version.last ?? 0), "\(c)")
    let transport = c["transport"] ?? ""
    let enabled =
      (try? String(contentsOfFile: UringTransportTests.parameter, encoding: .utf8))?.hasPrefix("Y")
      ?? false
    // The suite run on the ring (scripts/test turns enable_uring on), or the
    // default transport where root left the ring on.
    if testTransport == "uring" || (testTransport == nil && enabled) {
      XCTAssertTrue(transport.hasPrefix("io_uring, "), transport)
      XCTAssertTrue(transport.hasSuffix(" on cloned fds)"), transport)
    } else {
      XCTAssertTrue(transport.hasPrefix("read/write, "), transport)
      // With two CPUs or more, the first thread may serve requests alone.
      let gated = sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1
      XCTAssertTrue(
        transport.hasSuffix(
          " threads on cloned fds" + (gated ? ", one of them alone for requests one at a time" : "")
        ),
        transport)
      XCTAssertEqual(c["lone_client"] != nil, gated, "\(c)")
      let threads = Int(transport.split(separator: " ")[1]) ?? 0
      XCTAssertGreaterThanOrEqual(threads, 2)
    }
    XCTAssertEqual(c["max_write"], "1048576")
    XCTAssertEqual(c["max_pages"], "256")
    XCTAssertEqual(c["time_gran"], "1")
    // Room for readahead beside O_DIRECT writes held for a page drop.
    XCTAssertEqual(c["max_background"], "64")
    XCTAssertEqual(c["congestion_threshold"], "48")
    let readahead = Int(c["max_readahead"] ?? "") ?? 0
    XCTAssertTrue((4096...(1 << 20)).contains(readahead), "\(c)")
    let flags = Set((c["flags"] ?? "").split(separator: " ").map(String.init))
    for wanted in [
      "ASYNC_READ", "ATOMIC_O_TRUNC", "BIG_WRITES", "DONT_MASK", "POSIX_ACL", "DO_READDIRPLUS",
      "READDIRPLUS_AUTO", "PARALLEL_DIROPS", "HANDLE_KILLPRIV_V2", "MAX_PAGES", "CACHE_SYMLINKS",
      "SETXATTR_EXT", "EXPORT_SUPPORT", "ASYNC_DIO", "HAS_IOCTL_DIR",
    ] {
      XCTAssertTrue(flags.contains(wanted), "\(wanted) not agreed: \(flags.sorted())")
    }
    XCTAssertFalse(flags.contains("WRITEBACK_CACHE"), "not asked without -o writeback_cache")
    XCTAssertFalse(flags.contains("HANDLE_KILLPRIV"), "V1 is never asked")
  }

  /// Requests one at a time turn the gate hot (FuseReaderGate), on
  /// read/write and on the ring: /proc/vfs/connection then says
  /// "lone_client hot".
  func testRequestsOneAtATimeAreServedByOneReader() throws {
    let c = try fuseConnection(vfs.path)
    guard c["lone_client"] != nil else {
      // A single CPU: no gate, on either transport.
      XCTAssertEqual(sysconf(Int32(_SC_NPROCESSORS_ONLN)), 1, "\(c)")
      return
    }
    // From this thread only, lookups of names that are not there, one at a
    // time, until the gate says so: 64 in a row are enough, unless the
    // machine stalls this thread for 5 ms in between (the gate then takes
    // the client for gone and starts again).
    var state = ""
    for i in 0..<4000 {
      var st = stat()
      XCTAssertEqual(lstat(vfs.path + "/lone-\(i)", &st), -1)
      XCTAssertEqual(errno, ENOENT)
      if i % 100 == 99 {
        state = try fuseConnection(vfs.path)["lone_client"] ?? ""
        if state.hasPrefix("hot,") { break }
      }
    }
    XCTAssertTrue(state.hasPrefix("hot,"), state)
    XCTAssertTrue(state.hasSuffix(" found spinning"), state)
  }

  /// `-o busy_poll=0`: no thread looks for the next request; requests one
  /// at a time are served as any others.
  func testBusyPollZeroTurnsTheGateOff() throws {
    let other = try VfsMount(options: ["allow_other", "engine=native", "busy_poll=0"])
    defer { other.unmount() }
    for i in 0..<200 {
      var st = stat()
      XCTAssertEqual(lstat(other.path + "/quiet-\(i)", &st), -1)
    }
    let c = try fuseConnection(other.path)
    XCTAssertNil(c["lone_client"], "\(c)")
    XCTAssertFalse((c["transport"] ?? "").contains("one at a time"), "\(c)")
  }

  func testLibfuseLoopReportsItsConnectionToo() throws {
    let other = try VfsMount(options: ["allow_other", "engine=libfuse"])
    defer { other.unmount() }
    let c = try fuseConnection(other.path)
    XCTAssertEqual(c["transport"], "libfuse 3.14 loop")
    // libfuse 3.14 stops at 7.38, whatever the kernel offers.
    let version = c["protocol"]?.split(separator: ".").compactMap { Int($0) } ?? []
    XCTAssertEqual(version.first, 7, "\(c)")
    XCTAssertTrue((36...38).contains(version.last ?? 0), "\(c)")
    XCTAssertEqual(c["max_write"], "1048576")
    XCTAssertEqual(c["max_background"], "64")
    let flags = Set((c["flags"] ?? "").split(separator: " ").map(String.init))
    XCTAssertTrue(
      flags.isSuperset(of: ["ASYNC_READ", "DO_READDIRPLUS", "ATOMIC_O_TRUNC"]), "\(flags)")
    XCTAssertFalse(flags.contains("HANDLE_KILLPRIV_V2"), "libfuse 3.14 cannot ask it")
  }

  /// The everyday operations, run on tmpfs and on the native engine: the
  /// same output line for line.
  func testEverydayWorkloadMatchesTmpfs() {
    let script = """
      set -e
      cd "$1"; mkdir w; cd w
      echo hello > a; echo world >> a; cat a
      ls -l a | cut -d' ' -f1,2,5
      mkdir d; mkdir -p d/e/f; ls -R d
      mv a d/b; ls; cat d/b
      ln -s d/b s; readlink s; cat s
      ln d/b h; stat -c '%h %s' h d/b
      chmod 640 h; stat -c '%a' d/b
      setfattr -n user.k -v v1 h; getfattr -n user.k --only-values h; echo
      setfattr -x user.k h; getfattr -d h | wc -l
      truncate -s 3 h; cat h; echo; truncate -s 100000 h; stat -c %s h
      rm h d/b s; ls -A d
      rmdir d/e/f; ls d/e
      touch -d '2020-01-02 03:04:05.5' t; stat -c '%y' t
      dd if=/dev/zero of=z bs=64k count=20 status=none; stat -c %s z; od -An -tx1 -N4 -j 1000000 z
      """
    let outputs = stdoutOnBothSides("/bin/sh") { ["-c", script, "sh", $0] }
    XCTAssertTrue(outputs[0].contains("hello\nworld"), outputs[0])
    XCTAssertEqual(outputs[1], outputs[0], "native engine differs from tmpfs")
  }

  func testCopyOfATreeIsIdentical() {
    // This package's own sources: a few hundred files in nested directories.
    let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Sources")
      .path
    let r = sh(
      "cp -a \(shq(sources)) \(shq(vfs.path + "/tree")) && diff -r \(shq(sources)) \(shq(vfs.path + "/tree")) && find \(shq(vfs.path + "/tree")) -type f | wc -l"
    )
    XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
    XCTAssertGreaterThan(Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 50)
  }

  /// 10 MiB written and read with O_DIRECT (1 MiB requests) and buffered.
  func testTenMiBWithDirectAndBufferedIO() {
    let script = """
      import os, mmap, hashlib, sys
      p = sys.argv[1] + '/big'
      data = os.urandom(10 << 20)
      buf = mmap.mmap(-1, 1 << 20)
      fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o644)
      for i in range(10):
        buf.seek(0); buf.write(data[i << 20:(i + 1) << 20])
        assert os.pwritev(fd, [buf], i << 20) == 1 << 20
      os.close(fd)
      fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
      back = b''
      for i in range(10):
        assert os.preadv(fd, [buf], i << 20) == 1 << 20
        back += bytes(buf)
      os.close(fd)
      with open(p, 'rb') as f: buffered = f.read()
      want = hashlib.sha256(data).hexdigest()
      print(hashlib.sha256(back).hexdigest() == want, hashlib.sha256(buffered).hexdigest() == want, os.stat(p).st_size)
      """
    let r = runCommand("/usr/bin/python3", ["-c", script, vfs.path], timeout: 120)
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertEqual(r.stdout, "True True 10485760\n")
  }

  /// The WRITE and GETXATTR counts of 2,000 pwrites of 4 KiB on one open
  /// file, from /proc/vfs/requests. The first write of an inode makes the
  /// kernel ask security.capability once (dentry_needs_remove_privs()), then
  /// mark it S_NOSEC, which it does only on an SB_NOSEC superblock: FUSE gives
  /// that with HANDLE_KILLPRIV_V2 alone.
  private func writeCost(_ mount: String) -> String {
    let script = """
      import os, sys, time
      d = sys.argv[1]
      def rows():
        r = {'WRITE': 0, 'GETXATTR': 0}
        for line in open(d + '/proc/vfs/requests'):
          f = line.split()
          if len(f) > 3 and f[1] in r: r[f[1]] = next(int(x) for x in f[2:] if x.isdigit())
        return r
      # A request is counted just after its reply: wait until the counts
      # include `writes` WRITEs and hold still between two reads.
      def settled(writes):
        deadline = time.monotonic() + 20
        last = rows()
        while time.monotonic() < deadline:
          now = rows()
          if now == last and now['WRITE'] >= writes: return now
          last = now
        return last
      start = rows()
      fd = os.open(d + '/w', os.O_CREAT | os.O_WRONLY, 0o644)
      os.pwrite(fd, b'x' * 4096, 0)
      a = settled(start['WRITE'] + 1)
      for i in range(2000): os.pwrite(fd, b'y' * 4096, i * 4096)
      b = settled(a['WRITE'] + 2000)
      print(b['WRITE'] - a['WRITE'], b['GETXATTR'] - a['GETXATTR'])
      """
    let r = runCommand("/usr/bin/python3", ["-c", script, mount], timeout: 120)
    XCTAssertEqual(r.status, 0, r.stderr)
    return r.stdout
  }

  func testTwoThousandWritesCostNoGetxattr() throws {
    XCTAssertEqual(writeCost(vfs.path), "2000 0\n")
    // The libfuse loop, for contrast: one GETXATTR per write.
    let other = try VfsMount(options: ["allow_other", "engine=libfuse"])
    defer { other.unmount() }
    XCTAssertEqual(writeCost(other.path), "2000 2000\n")
  }

  /// With HANDLE_KILLPRIV_V2 the kernel leaves clearing setuid and setgid to
  /// the daemon: on write, truncate, O_TRUNC and chown, as tmpfs does it.
  func testSetuidAndSetgidClearedAsTmpfs() {
    let script = """
      import os, sys, subprocess
      d = sys.argv[1]
      ops = {
        'write': "fd=os.open(p,os.O_WRONLY); os.pwrite(fd,b'x',0)",
        'truncate': "os.truncate(p, 1)",
        'open_trunc': "os.open(p,os.O_WRONLY|os.O_TRUNC)",
      }
      for name, code in ops.items():
        for gid in (0, 1000):  # not a member, then a member of the file's group
          for mode in (0o6757, 0o6777, 0o6767, 0o4777, 0o2767, 0o2777):
            p = os.path.join(d, 'k_%s_%d_%o' % (name, gid, mode))
            with open(p, 'wb') as f: f.write(b'data' * 2048)
            os.chown(p, 0, gid); os.chmod(p, mode)
            r = subprocess.run(['setpriv', '--reuid=1000', '--regid=1000', '--clear-groups',
                '/usr/bin/python3', '-c', 'import os; p=%r; %s' % (p, code)], capture_output=True, text=True)
            print(name, gid, oct(mode), '->', oct(os.stat(p).st_mode & 0o7777),
                'ok' if r.returncode == 0 else 'failed: ' + r.stderr.strip().split(':')[0][-60:])
      for mode in (0o6755, 0o6745, 0o4755):
        p = os.path.join(d, 'c_%o' % mode)
        open(p, 'w').close(); os.chmod(p, mode)
        os.chown(p, 1000, 1000)
        print('chown', oct(mode), '->', oct(os.stat(p).st_mode & 0o7777))
        os.chmod(p, mode); os.chown(p, -1, -1)
        print('chown -1 -1', oct(mode), '->', oct(os.stat(p).st_mode & 0o7777))
      """
    for dir in [tmpfs.path, vfs.path] { XCTAssertEqual(chmod(dir, 0o1777), 0) }
    let outputs = stdoutOnBothSides("/usr/bin/python3", timeout: 120) { ["-c", script, $0] }
    let lines = outputs.map { $0.split(separator: "\n").map(String.init) }
    XCTAssertEqual(lines[0].count, 42, outputs[0])
    // Only a group member facing 0o6757 (group r-x) may not write.
    XCTAssertEqual(lines[0].filter { $0.contains("failed") }.count, 3, outputs[0])
    // A non-owner's write on a setuid+setgid file clears both bits.
    XCTAssertTrue(lines[0].contains("write 0 0o6757 -> 0o757 ok"), outputs[0])
    XCTAssertTrue(lines[1].contains("write 0 0o6757 -> 0o757 ok"), outputs[1])
    XCTAssertTrue(lines[1].contains("chown -1 -1 0o6755 -> 0o755"), outputs[1])
    XCTAssertEqual(lines[1].count, lines[0].count)
    for (t, v) in zip(lines[0], lines[1]) {
      XCTAssertEqual(v, t, "native engine differs from tmpfs")
    }
  }

  /// In process, through `FuseMount.Options.engine`: a file written and
  /// read back, /proc/vfs/connection, then an unmount that ends every
  /// serving thread (ENODEV) so that `run()` returns; a second mount on the
  /// same directory works.
  func testFuseMountInProcessServesAndUnmounts() async throws {
    let dir = try makeTempDir("native-embed")
    defer { rmdir(dir) }
    var options = FuseMount.Options()
    options.engine = .native
    for round in 0..<2 {
      let mount = try FuseMount(
        try VFS.standard(options: MountOptions()), at: dir, options: options)
      let serving = Task { try await mount.run() }
      let file = dir + "/round\(round)"
      XCTAssertEqual(sh("echo data > \(shq(file)) && cat \(shq(file))").stdout, "data\n")
      let report = try String(contentsOfFile: dir + "/proc/vfs/connection", encoding: .utf8)
      // The native engine's descriptors, on read/write or beside the ring
      // (the default transport takes it when enable_uring is on).
      XCTAssertTrue(report.contains(" on cloned fds"), report)
      try await mount.unmount()
      XCTAssertTrue(mount.isClosed)
      XCTAssertNil(MountInfo.at(dir))
      try await serving.value
    }
  }

  /// SIGTERM ends the daemon with status 0 and the mount with it, as with
  /// the libfuse loop (the signal handler wakes the engine's threads).
  func testSigtermEndsTheDaemonCleanly() {
    XCTAssertTrue(FileManager.default.fileExists(atPath: vfs.path + "/proc/vfs/connection"))
    XCTAssertEqual(kill(vfs.pid, SIGTERM), 0)
    XCTAssertEqual(vfs.waitForExit(timeout: 30), 0, vfs.stderr)
    XCTAssertFalse(vfs.isMounted)
  }
}
