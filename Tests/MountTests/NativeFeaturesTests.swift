import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// What the native engine gives that libfuse 3.14's loop cannot: O_TMPFILE
/// (FUSE_TMPFILE), statx's birth time (FUSE_STATX), syncfs (FUSE_SYNCFS),
/// idmapped mounts (FUSE_ALLOW_IDMAP) and cached negative entries; each side
/// by side with a tmpfs where tmpfs has it.
final class NativeFeaturesTests: ConformanceTestCase {
  override class var mountOptions: [String] { super.mountOptions + ["engine=native"] }

  /// O_TMPFILE (`__O_TMPFILE | O_DIRECTORY`; Glibc's macro does not import).
  static let oTmpfile: Int32 = 0o20200000
  /// AT_EMPTY_PATH (fcntl.h; not imported by Glibc's module).
  static let atEmptyPath: Int32 = 0x1000

  /// The calls counted for `opcode` in the mount's /proc/vfs/requests.
  func requestCalls(_ opcode: String, in mount: String) -> Int {
    guard let text = try? String(contentsOfFile: mount + "/proc/vfs/requests", encoding: .utf8)
    else { return -1 }
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      if f.count > 3, f[1] == opcode {
        return f.dropFirst(2).lazy.compactMap { Int($0) }.first ?? -1
      }
    }
    return -1
  }

  /// Polls `condition` (a request is counted, a release is served, just after
  /// the reply the caller waited for) for up to 20 s.
  func eventually(_ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(20)
    while Date() < deadline {
      if condition() { return true }
      usleep(2000)
    }
    return condition()
  }

  // MARK: - O_TMPFILE

  func testTmpfileIsUnnamedWritableAndLinkableAsOnTmpfs() {
    sideBySide { s in
      let fd = Glibc.open(s.root, Self.oTmpfile | O_RDWR, 0o640)
      s.check("open O_TMPFILE|O_RDWR", fd >= 0 ? "OK" : errnoName(errno), "OK")
      guard fd >= 0 else { return }
      defer { close(fd) }
      s.check("write", pwrite(fd, Array("hello".utf8), at: 0), "OK")
      let st = s.fstat(fd)
      s.check("nlink", st.map { Int($0.st_nlink) } ?? -1, 0)
      s.check("mode", st.map { String($0.st_mode, radix: 8) } ?? "-", "100640")
      s.check("size", st.map { Int($0.st_size) } ?? -1, 5)
      s.check("listing before link", s.ls(), "")
      s.check(
        "linkat AT_EMPTY_PATH",
        linkat(fd, "", AT_FDCWD, s.p("named"), Self.atEmptyPath) == 0
          ? "OK" : errnoName(errno), "OK")
      s.check("read by name", s.get("named"), "hello")
      s.check("nlink after link", s.nlink("named"), 1)
      s.check("fstat nlink after link", s.fstat(fd).map { Int($0.st_nlink) } ?? -1, 1)
      s.check("listing after link", s.ls(), "named")

      // The other way: the /proc/self/fd link, followed.
      let other = Glibc.open(s.root, Self.oTmpfile | O_WRONLY, 0o600)
      s.check("open O_TMPFILE|O_WRONLY", other >= 0 ? "OK" : errnoName(errno), "OK")
      if other >= 0 {
        s.check(
          "linkat /proc/self/fd",
          linkat(AT_FDCWD, "/proc/self/fd/\(other)", AT_FDCWD, s.p("viaProc"), AT_SYMLINK_FOLLOW)
            == 0 ? "OK" : errnoName(errno), "OK")
        close(other)
      }
      s.check("viaProc mode", s.mode("viaProc"))
    }
    // The kernel sent FUSE_TMPFILE (not a CREATE in disguise), twice.
    XCTAssertTrue(eventually { requestCalls("TMPFILE", in: vfs.path) == 2 })
  }

  func testTmpfileErrorsAndExclusiveAsOnTmpfs() {
    sideBySide { s in
      s.check("O_TMPFILE read-only", s.open("", Self.oTmpfile | O_RDONLY, 0o600), "EINVAL")
      _ = s.put("file", "x")
      s.check("O_TMPFILE on a file", s.open("file", Self.oTmpfile | O_RDWR, 0o600), "ENOTDIR")
      s.check("O_TMPFILE in a missing dir", s.open("nodir", Self.oTmpfile | O_RDWR), "ENOENT")
      let fd = Glibc.open(s.root, Self.oTmpfile | O_RDWR | O_EXCL, 0o600)
      s.check("open O_TMPFILE|O_EXCL", fd >= 0 ? "OK" : errnoName(errno), "OK")
      guard fd >= 0 else { return }
      defer { close(fd) }
      s.check("write", pwrite(fd, Array("x".utf8), at: 0), "OK")
      s.check(
        "linkat of O_EXCL",
        linkat(fd, "", AT_FDCWD, s.p("never"), Self.atEmptyPath) == 0
          ? "OK" : errnoName(errno), "ENOENT")
      s.check(
        "linkat via /proc of O_EXCL",
        linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, s.p("never"), AT_SYMLINK_FOLLOW) == 0
          ? "OK" : errnoName(errno), "ENOENT")
      s.check("never there", s.statResult("never"), "ENOENT")
    }
  }

  /// An unlinked O_TMPFILE is freed at its last close: statfs's free blocks
  /// and inodes come back to what they were.
  func testTmpfileClosedWithoutLinkIsFreed() {
    sideBySide { s in
      guard let before = s.statfs() else { return s.check("statfs", errnoName(errno)) }
      let fd = Glibc.open(s.root, Self.oTmpfile | O_RDWR, 0o600)
      s.check("open", fd >= 0 ? "OK" : errnoName(errno), "OK")
      guard fd >= 0 else { return }
      s.check("write 1 MiB", pwrite(fd, [UInt8](repeating: 7, count: 1 << 20), at: 0), "OK")
      _ = fsync(fd)  // so the pages reach vfsmount before statfs looks
      let during = s.statfs()
      s.check("blocks taken", during.map { $0.f_bfree < before.f_bfree } ?? false, true)
      s.check("inode taken", during.map { $0.f_ffree < before.f_ffree } ?? false, true)
      close(fd)
      // FUSE sends RELEASE after close(2) returns: wait for it.
      let back = eventually {
        guard let now = s.statfs() else { return false }
        return now.f_bfree == before.f_bfree && now.f_ffree == before.f_ffree
      }
      s.check("free blocks and inodes back", back, true)
      s.check("listing", s.ls(), "")
    }
  }

  // MARK: - STATX

  /// `stat --format=FORMAT PATH` (coreutils asks statx for what FORMAT needs).
  func statFormat(_ format: String, _ path: String) -> String {
    let r = runCommand("stat", ["--format=" + format, path], timeout: 30)
    XCTAssertEqual(r.status, 0, "\(r)")
    return r.out
  }

  func testStatxShowsTheBirthTimeSetAtCreation() throws {
    let path = vfs.path + "/born"
    let before = Int(Date().timeIntervalSince1970.rounded(.down))
    XCTAssertEqual(vfsSide.put(path, "x"), "OK")
    let after = Int(Date().timeIntervalSince1970.rounded(.up))
    let statxBefore = requestCalls("STATX", in: vfs.path)
    let born = Int(statFormat("%W", path)) ?? 0
    XCTAssertTrue((before...after).contains(born), "birth \(born) not in \(before)...\(after)")
    XCTAssertTrue(eventually { requestCalls("STATX", in: vfs.path) > statxBefore })
    // The other fields are GETATTR's.
    let st = try XCTUnwrap(lstatPath(path))
    XCTAssertEqual(
      statFormat("%s %h %f %u %g %i %X %Y %Z", path),
      "\(st.st_size) \(st.st_nlink) \(String(st.st_mode, radix: 16)) \(st.st_uid) \(st.st_gid) "
        + "\(st.st_ino) \(st.st_atim.tv_sec) \(st.st_mtim.tv_sec) \(st.st_ctim.tv_sec)")
    // A write and a chmod move mtime and ctime, never the birth time.
    let fullBirth = statFormat("%w", path)
    XCTAssertEqual(vfsSide.put(path, "more", flags: O_WRONLY | O_APPEND), "OK")
    XCTAssertEqual(chmod(path, 0o600), 0)
    XCTAssertEqual(statFormat("%w", path), fullBirth)
    XCTAssertNotEqual(statFormat("%z", path), fullBirth, "ctime moved")
    // The same on tmpfs: a birth time within the same bounds.
    let twin = tmpfs.path + "/born"
    XCTAssertEqual(tmpfsSide.put(twin, "x"), "OK")
    XCTAssertNotEqual(statFormat("%W", twin), "0")
  }

  func testLibfuseEngineStillShowsNoBirthTime() throws {
    let other = try VfsMount(options: ["allow_other", "engine=libfuse"])
    defer { other.unmount() }
    let path = other.path + "/f"
    let fd = open(path, O_CREAT | O_WRONLY, 0o644)
    XCTAssertGreaterThanOrEqual(fd, 0)
    close(fd)
    XCTAssertEqual(statFormat("%W %w", path), "0 -")
  }

  // MARK: - SYNCFS

  /// `sync -f` (syncfs(2)) on the mount succeeds. Linux 6.18 sends FUSE_SYNCFS only on a
  /// connection with fc->sync_fs set (virtiofs; no INIT flag turns it on for
  /// /dev/fuse), so here it ends in the kernel; FuseNativeRequestsTests
  /// checks the engine's answer to the request itself.
  func testSyncfsOfTheMountSucceeds() throws {
    XCTAssertEqual(vfsSide.put(vfs.path + "/f", "data"), "OK")
    let r = runCommand("sync", ["-f", vfs.path], timeout: 30)
    XCTAssertEqual(r.status, 0, "\(r)")
  }

  // MARK: - Idmapped mounts

  /// Makes an idmapped bind mount of `source` on `target` whose idmap is a
  /// user namespace mapping 1000 inside to 0 outside: root's new files
  /// then belong to 1000 underneath. Done with open_tree(), mount_setattr()
  /// (MOUNT_ATTR_IDMAP) and move_mount(), because Debian 12's util-linux
  /// 2.38.1 cannot: `mount --bind -o X-mount.idmap=...` exits 0 with a plain
  /// bind mount (libmount 2.38 keeps X-mount.idmap as an unknown userspace
  /// option; it came in 2.39), and `mount --map-users` is "unrecognized".
  /// Returns "OK" or the failing call and its error.
  func idmappedBindMount(_ source: String, on target: String) -> String {
    let r = runCommand("/usr/bin/python3", ["-c", Self.idmapScript, source, target], timeout: 30)
    return r.ok ? "OK" : r.stderr.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static let idmapScript = #"""
    import ctypes, os, sys, signal
    libc = ctypes.CDLL(None, use_errno=True)
    src, dst = sys.argv[1], sys.argv[2]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        if libc.unshare(0x10000000) != 0: os._exit(1)
        os.read(r, 1)  # wait until the parent is done
        os._exit(0)
    os.close(r)
    def fail(what):
        e = ctypes.get_errno()
        os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
        sys.exit(f"{what}: {os.strerror(e)}")
    import time
    # the child's unshare: wait until its user namespace differs from ours
    mine = os.readlink('/proc/self/ns/user')
    for _ in range(10000):
        if os.readlink(f'/proc/{pid}/ns/user') != mine: break
        time.sleep(0.001)
    with open(f'/proc/{pid}/uid_map', 'w') as f: f.write('1000 0 1\n')
    with open(f'/proc/{pid}/gid_map', 'w') as f: f.write('1000 0 1\n')
    userns = os.open(f'/proc/{pid}/ns/user', os.O_RDONLY)
    AT_FDCWD = -100
    libc.syscall.restype = ctypes.c_long
    tree = libc.syscall(428, AT_FDCWD, src.encode(), 1 | 0o2000000)  # open_tree(OPEN_TREE_CLONE|CLOEXEC)
    if tree < 0: fail('open_tree')
    class MountAttr(ctypes.Structure):
        _fields_ = [('attr_set', ctypes.c_uint64), ('attr_clr', ctypes.c_uint64),
                    ('propagation', ctypes.c_uint64), ('userns_fd', ctypes.c_uint64)]
    attr = MountAttr(0x00100000, 0, 0, userns)
    if libc.syscall(442, tree, b'', 0x1000, ctypes.byref(attr), ctypes.sizeof(attr)) != 0:
        fail('mount_setattr(MOUNT_ATTR_IDMAP)')
    if libc.syscall(429, tree, b'', AT_FDCWD, dst.encode(), 0x4) != 0: fail('move_mount')
    os.write(w, b'x'); os.waitpid(pid, 0)
    """#

  /// What root sees making files through an idmapped bind mount of
  /// `mount`, one "label: result" line per step.
  func idmappedScenario(_ mount: String) -> [String] {
    var out: [String] = []
    func step(_ label: String, _ ok: Bool) {
      out.append("\(label): \(ok ? "OK" : errnoName(errno))")
    }
    func owner(_ path: String) -> String {
      lstatPath(path).map { "\($0.st_uid):\($0.st_gid)" } ?? errnoName(errno)
    }
    let u = mount + "/u"
    step("mkdir u", mkdir(u, 0o755) == 0)
    step("chown u", chown(u, 1000, 1000) == 0)
    let old = open(u + "/old", O_CREAT | O_WRONLY, 0o644)
    step("old", old >= 0)
    close(old)
    step("chown old", chown(u + "/old", 1000, 1000) == 0)
    guard let target = try? makeTempDir("idmapped") else { return out + ["mkdtemp failed"] }
    defer { rmdir(target) }
    let made = idmappedBindMount(mount, on: target)
    out.append("idmapped bind mount: \(made)")
    guard made == "OK" else { return out }
    defer { umount2(target, Int32(MNT_DETACH)) }
    out.append("1000's file seen as \(owner(target + "/u/old"))")
    let new = open(target + "/u/new", O_CREAT | O_WRONLY, 0o644)
    step("create through it", new >= 0)
    step("write through it", new >= 0 && write(new, "y", 1) == 1)
    close(new)
    step("mkdir through it", mkdir(target + "/u/dir", 0o755) == 0)
    out.append("new file underneath \(owner(u + "/new"))")
    out.append("new dir underneath \(owner(u + "/dir"))")
    out.append("new file through it \(owner(target + "/u/new"))")
    // Root's own requests still carry root's ids where the kernel leaves
    // them out (FUSE_INVALID_UIDGID): chmod works, a write keeps setgid.
    step("chmod 2775 underneath", chmod(u + "/new", 0o2775) == 0)
    let again = open(u + "/new", O_WRONLY | O_APPEND)
    step("write as root", again >= 0 && write(again, "z", 1) == 1)
    close(again)
    out.append(
      "mode after \(lstatPath(u + "/new").map { String($0.st_mode & 0o7777, radix: 8) } ?? "-")")
    // A directory whose owner the idmap cannot map (the root) takes nothing.
    let x = open(target + "/x", O_CREAT | O_WRONLY, 0o644)
    step("create in an unmapped dir", x >= 0)
    if x >= 0 { close(x) }
    return out
  }

  /// With `FuseBridge.Options.allowIdmap` (FUSE_ALLOW_IDMAP, with
  /// default_permissions) the mount takes an idmap, as tmpfs does: files root
  /// makes through it are owned by 1000 underneath, and 1000's show as root's.
  func testIdmappedBindMountMapsOwnersAsOnTmpfs() async throws {
    if testsOnExt2 {
      // The kernel's ext2 here is the ext4 driver's "ext2" type, which has
      // no FS_ALLOW_IDMAP: it refuses an idmap, and vfsmount -t ext2 (which
      // does not ask FUSE_ALLOW_IDMAP) refuses it the same way.
      let kernel = idmappedScenario(tmpfs.path)
      XCTAssertEqual(idmappedScenario(vfs.path), kernel)
      XCTAssertEqual(
        kernel.last, "idmapped bind mount: mount_setattr(MOUNT_ATTR_IDMAP): Invalid argument")
      return
    }
    let dir = try makeTempDir("idmap-native")
    defer { rmdir(dir) }
    var options = FuseMount.Options()
    options.engine = .native
    options.bridge.allowIdmap = true
    let mount = try FuseMount(try VFS.standard(options: MountOptions()), at: dir, options: options)
    let serving = Task { try await mount.run() }
    let fuse = idmappedScenario(dir)
    let report = (try? String(contentsOfFile: dir + "/proc/vfs/connection", encoding: .utf8)) ?? ""
    try await mount.unmount()
    try await serving.value
    XCTAssertTrue(report.contains(" ALLOW_IDMAP"), report)
    let onTmpfs = idmappedScenario(tmpfs.path)
    XCTAssertEqual(fuse, onTmpfs)
    XCTAssertEqual(
      onTmpfs,
      [
        "mkdir u: OK", "chown u: OK", "old: OK", "chown old: OK", "idmapped bind mount: OK",
        "1000's file seen as 0:0", "create through it: OK", "write through it: OK",
        "mkdir through it: OK", "new file underneath 1000:1000", "new dir underneath 1000:1000",
        "new file through it 0:0", "chmod 2775 underneath: OK", "write as root: OK",
        "mode after 2775", "create in an unmapped dir: EACCES",
      ])
    // Not asked by default: the kernel would leave the caller out of most requests.
    let plain =
      (try? String(contentsOfFile: vfs.path + "/proc/vfs/connection", encoding: .utf8)) ?? ""
    XCTAssertFalse(plain.contains("ALLOW_IDMAP"), plain.replacingOccurrences(of: "\n", with: " | "))
  }

  // MARK: - Negative entries

  /// A LOOKUP miss is an entry reply with node id 0 and the entry timeout
  /// (FuseEngineTests checks the bytes), so the kernel keeps a negative
  /// dentry: a second stat of the missing name costs no LOOKUP.
  func testAMissingNameIsLookedUpOnce() throws {
    let missing = vfs.path + "/t/missing"
    // setUp's chmod of t dropped its dentry (fuse_setattr() invalidates a
    // directory's entry when its mode changes): walk it once more first.
    XCTAssertNotNil(lstatPath(vfs.path + "/t"))
    // Reading the table looks up proc/vfs/requests the first time; those
    // LOOKUPs are counted just after their replies: let the count settle.
    var before = requestCalls("LOOKUP", in: vfs.path)
    XCTAssertTrue(
      eventually {
        let now = requestCalls("LOOKUP", in: vfs.path)
        defer { before = now }
        return now == before
      })
    XCTAssertNil(lstatPath(missing))
    XCTAssertEqual(errno, ENOENT)
    XCTAssertTrue(eventually { requestCalls("LOOKUP", in: vfs.path) == before + 1 })
    XCTAssertNil(lstatPath(missing))
    XCTAssertEqual(errno, ENOENT)
    // Another missing name costs one: once it is counted, the table holds
    // every LOOKUP the two stats above sent.
    XCTAssertNil(lstatPath(vfs.path + "/t/other"))
    XCTAssertTrue(eventually { requestCalls("LOOKUP", in: vfs.path) >= before + 2 })
    XCTAssertEqual(requestCalls("LOOKUP", in: vfs.path), before + 2, "the second stat asked again")
    // The negative entry goes when the name is made.
    XCTAssertEqual(vfsSide.put(missing, "now"), "OK")
    XCTAssertEqual(vfsSide.get(missing), "now")
  }
}
