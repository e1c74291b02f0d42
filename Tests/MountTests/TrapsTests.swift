import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// The traps a first SwiftVFS file system fell into (issue 10), each as a
/// repro that must now work or fail loudly at the call.

/// The hellofs example: env HELLOFS, else the one built beside the tests.
func hellofsPath() -> String { builtExecutable("hellofs", env: "HELLOFS") }

/// Throws XCTSkip (or fails, under CI=true) without /dev/fuse and root.
private func requireFuse() throws {
  guard access("/dev/fuse", F_OK) == 0, getuid() == 0 else {
    if MountTestCase.isCI { XCTFail("no /dev/fuse or not root") }
    throw XCTSkip("needs /dev/fuse and root")
  }
}

/// A new regular file under the temporary directory (a mount point that is
/// not a directory).
private func makeTempFile(_ prefix: String) throws -> String {
  let dir = try makeTempDir(prefix)
  let path = dir + "/file"
  guard creat(path, 0o644) >= 0 else { throw SupportError("creat: \(errnoName(errno))") }
  return path
}

private func removeTempFile(_ path: String) {
  unlink(path)
  rmdir((path as NSString).deletingLastPathComponent)
}

// MARK: - 1. A failed mount fails loudly, never with a signal

final class FailedMountTests: XCTestCase {
  /// `hellofs /nonexistent` crashed with SIGSEGV: init freed the session and
  /// deinit unmounted it again. Now: exit status 1, one line naming ENOENT.
  func testHellofsOnAMissingMountPointExitsWithOneLine() {
    let missing = "/nonexistent-swiftvfs-\(getpid())"
    let r = runCommand(hellofsPath(), [missing], timeout: 30)
    XCTAssertEqual(r.status, 1, "\(r)")  // a signal would be 128 + its number
    let lines = r.stderr.split(separator: "\n")
    XCTAssertEqual(lines.count, 1, "\(r)")
    XCTAssertTrue(r.stderr.contains(missing) && r.stderr.contains("ENOENT"), "\(r)")
  }

  /// Mounting on a regular file "succeeded" and then everything was EIO.
  func testHellofsOnARegularFileExitsWithENOTDIR() throws {
    let file = try makeTempFile("hellofs-file")
    defer { removeTempFile(file) }
    let r = runCommand(hellofsPath(), [file], timeout: 30)
    XCTAssertEqual(r.status, 1, "\(r)")
    XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(r)")
    XCTAssertTrue(r.stderr.contains("ENOTDIR"), "\(r)")
    XCTAssertNil(MountInfo.at(file), "nothing may be mounted on the file")
  }

  func testVfsmountOnARegularFileFailsWithENOTDIR() throws {
    let file = try makeTempFile("vfsmount-file")
    defer { removeTempFile(file) }
    let r = runCommand(vfsmountPath(), ["-f", file], timeout: 30)
    XCTAssertNotEqual(r.status, 0, "\(r)")
    XCTAssertLessThan(r.status, 128, "no signal: \(r)")
    XCTAssertTrue(r.stderr.contains("ENOTDIR"), "\(r)")
    XCTAssertNil(MountInfo.at(file))
  }

  /// The library itself: a typed failure with the errno, nothing to free twice.
  func testSessionOnAMissingOrNonDirectoryMountPointThrowsTheErrno() throws {
    let vfs = try VFS.standard(options: MountOptions())
    let file = try makeTempFile("session-file")
    defer { removeTempFile(file) }
    for (path, expected) in [("/nonexistent-swiftvfs-\(getpid())", Errno.ENOENT), (file, .ENOTDIR)]
    {
      do {
        let session = try FuseSession(
          bridge: FuseBridge(vfs: vfs, options: FuseBridge.Options()), mountPoint: path,
          kernelOptions: [])
        session.close()
        XCTFail("mounted on \(path)")
      } catch {
        XCTAssertEqual(error.errno, expected, "\(path): \(error)")
        XCTAssertTrue(error.description.contains(path), "\(error)")
      }
    }
  }

  /// A VFS with nothing mounted at "/" would answer ENOENT to everything.
  func testSessionOnAVFSWithoutARootThrowsEINVAL() throws {
    let dir = try makeTempDir("session-noroot")
    defer { rmdir(dir) }
    do {
      let session = try FuseSession(
        bridge: FuseBridge(vfs: VFS(), options: FuseBridge.Options()), mountPoint: dir,
        kernelOptions: [])
      session.close()
      XCTFail("mounted a VFS without a root")
    } catch {
      XCTAssertEqual(error.errno, .EINVAL, "\(error)")
      XCTAssertTrue(error.description.contains("no root"), "\(error)")
    }
    XCTAssertNil(MountInfo.at(dir))
  }

  /// close() without run(), close() twice, and run() after close().
  func testCloseWithoutRunTwiceAndRunAfterClose() throws {
    try requireFuse()
    let vfs = try VFS.standard(options: MountOptions())
    let dir = try makeTempDir("session-close")
    defer {
      if MountInfo.at(dir) != nil { umount2(dir, Int32(MNT_DETACH)) }
      rmdir(dir)
    }
    let session = try FuseSession(
      bridge: FuseBridge(vfs: vfs, options: FuseBridge.Options()), mountPoint: dir,
      kernelOptions: ["fsname=session-close"])
    XCTAssertEqual(MountInfo.at(dir)?.fsType.hasPrefix("fuse"), true)
    session.close()
    XCTAssertNil(MountInfo.at(dir), "close unmounts")
    session.close()
    XCTAssertEqual(session.run(loop: .single), -EBADF)
    XCTAssertEqual(session.run(loop: .threaded), -EBADF)
  }
}

// MARK: - 2. The root need not be the first inode made

/// A file system whose mount makes its files before its root, so the root is
/// not inode 1 (the first file is).
final class ChildrenFirstFS: FileSystemType {
  let name = "childrenfirst"
  let readOnly = true

  struct Super: SuperOperations {}

  struct Text: InodeOperations, FileOperations {
    let text: [UInt8]

    func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
      throws(Errno) -> Int
    {
      guard offset < text.count else { return 0 }
      let n = min(buffer.count, text.count - Int(offset))
      buffer.copyBytes(from: text[Int(offset)..<Int(offset) + n])
      return n
    }
  }

  struct Directory: InodeOperations, FileOperations {
    let children: [(name: FileName, inode: Inode)]

    func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
      children.first { $0.name == name }?.inode
    }

    func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
      guard Simple.emitDots(file, from: offset, emit) else { return }
      for (i, child) in children.enumerated() where offset < 3 + Int64(i) {
        let entry = DirEntry(
          name: child.name, ino: child.inode.ino, type: .regular, offset: 3 + Int64(i),
          inode: child.inode)
        guard emit(entry) else { return }
      }
    }
  }

  func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let sb = SuperBlock(fsType: self, ops: Super(), context: context, magic: 0x4346_5253)
    var children: [(name: FileName, inode: Inode)] = []
    for name in ["one", "two"] {
      let text = Text(text: Array("\(name)\n".utf8))
      let inode = try sb.newInode(
        mode: FileType.regular.rawValue | 0o444, cred: context.cred, ops: text, fileOps: text)
      inode.size = Int64(text.text.count)
      children.append((try FileName(name), inode))
    }
    let dir = Directory(children: children)
    let root = try sb.newInode(
      mode: FileType.directory.rawValue | 0o555, cred: context.cred, ops: dir, fileOps: dir)
    sb.setRoot(root)
    return sb
  }
}

final class RootNotFirstTests: XCTestCase {
  /// Every access to the mount point was ENOENT: the bridge took FUSE's root
  /// id 1 for inode 1, a file.
  func testAMountWhoseRootIsNotInodeOneServesTheRoot() throws {
    try requireFuse()
    let vfs = VFS()
    try vfs.filesystems.register(ChildrenFirstFS())
    try vfs.mount("childrenfirst", at: "/", options: MountOptions())
    XCTAssertNotEqual(vfs.root.ino, 1, "the repro needs a root that is not inode 1")
    let mount = try InProcessMount(vfs: vfs, name: "childrenfirst")
    defer { XCTAssertNil(mount.stop()) }

    var st = stat()
    XCTAssertEqual(result(stat(mount.path, &st)), "OK")
    XCTAssertEqual(typeName(st.st_mode), typeName(S_IFDIR))
    let names = try FileManager.default.contentsOfDirectory(atPath: mount.path).sorted()
    XCTAssertEqual(names, ["one", "two"])
    XCTAssertEqual(try String(contentsOfFile: mount.path + "/one", encoding: .utf8), "one\n")
    XCTAssertEqual(try String(contentsOfFile: mount.path + "/two", encoding: .utf8), "two\n")
    // The file that really is inode 1 keeps its number in stat, though the
    // kernel knows it by the root's node id.
    XCTAssertEqual(result(stat(mount.path + "/one", &st)), "OK")
    XCTAssertEqual(st.st_ino, 1)
    XCTAssertEqual(typeName(st.st_mode), typeName(S_IFREG))
    // "." and ".." come from Simple.emitDots.
    let listing = runCommand("ls", ["-a", mount.path], timeout: 30)
    XCTAssertEqual(listing.out.split(separator: "\n"), [".", "..", "one", "two"], "\(listing)")
  }
}

// MARK: - 5. A read-only file system answers as a kernel one mounted ro

/// hellofs (a child process) and a tmpfs remounted `ro` holding the same
/// file, asked the same things: every change is EROFS on both, fsync
/// succeeds, and the listing has "." and "..".
final class ReadOnlyHellofsTests: XCTestCase {
  var hellofs: Child?
  var mountPoint = ""
  var tmpfs: TmpfsMount?

  override func setUpWithError() throws {
    try super.setUpWithError()
    try requireFuse()
    let tmpfs = try TmpfsMount()
    self.tmpfs = tmpfs
    let text = "Hello from Swift!\n"
    try text.write(toFile: tmpfs.path + "/hello", atomically: false, encoding: .utf8)
    chmod(tmpfs.path + "/hello", 0o444)
    chmod(tmpfs.path, 0o555)
    let remount = runCommand("mount", ["-o", "remount,ro", tmpfs.path], timeout: 10)
    guard remount.ok else { throw SupportError("remount ro: \(remount)") }

    mountPoint = try makeTempDir("hellofs")
    let child = try Child(hellofsPath(), [mountPoint])
    hellofs = child
    let deadline = Date().addingTimeInterval(15)
    while MountInfo.at(mountPoint)?.fsType.hasPrefix("fuse") != true {
      if let status = child.wait(timeout: 0) {
        throw SupportError("hellofs exited with \(status): \(child.stderr)")
      }
      guard Date() < deadline else { throw SupportError("hellofs did not mount in 15 s") }
      usleep(20_000)
    }
  }

  override func tearDownWithError() throws {
    if let child = hellofs {
      let info = MountInfo.at(mountPoint)
      if info != nil { umount2(mountPoint, Int32(MNT_DETACH)) }
      if child.wait(timeout: 10) == nil {
        if let info { abortConnection(minor: info.minor) }
        child.signal(SIGKILL)
        child.wait(timeout: 5)
        XCTFail("hellofs did not exit after the unmount")
      } else {
        XCTAssertEqual(child.exitStatus, 0, "hellofs: \(child.stderr)")
      }
    }
    if !mountPoint.isEmpty { rmdir(mountPoint) }
    tmpfs?.unmount()
    try super.tearDownWithError()
  }

  /// Runs `body` on both mounts; asserts both give `expected`.
  func both(
    _ label: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line,
    _ body: (String) -> String
  ) {
    guard let tmpfs else { return }
    let kernel = body(tmpfs.path)
    let ours = body(mountPoint)
    XCTAssertEqual(kernel, expected, "tmpfs ro: \(label)", file: file, line: line)
    XCTAssertEqual(ours, expected, "hellofs: \(label)", file: file, line: line)
  }

  func testEveryChangeIsEROFSAsOnAReadOnlyTmpfs() {
    // `echo x >> hello` was EINVAL at write(); now the open fails, as open(2)
    // says: "EROFS pathname refers to a file on a read-only filesystem and
    // write access was requested".
    both("open O_WRONLY|O_APPEND", "EROFS") { result(open($0 + "/hello", O_WRONLY | O_APPEND)) }
    both("open O_RDWR", "EROFS") { result(open($0 + "/hello", O_RDWR)) }
    // chmod(2), chown(2), utimensat(2) ("touch"), truncate(2): EROFS.
    both("chmod 666", "EROFS") { result(chmod($0 + "/hello", 0o666)) }
    both("chown", "EROFS") { result(chown($0 + "/hello", 1000, 1000)) }
    both("touch", "EROFS") { result(utimensat(AT_FDCWD, $0 + "/hello", nil, 0)) }
    both("truncate", "EROFS") { result(truncate($0 + "/hello", 0)) }
    // Names: mkdir(2), open(2) O_CREAT, unlink(2), rename(2), symlink(2),
    // link(2), mknod(2).
    both("mkdir", "EROFS") { result(mkdir($0 + "/d", 0o755)) }
    both("create", "EROFS") { result(open($0 + "/new", O_CREAT | O_WRONLY, 0o644)) }
    both("unlink", "EROFS") { result(unlink($0 + "/hello")) }
    both("rename", "EROFS") { result(rename($0 + "/hello", $0 + "/moved")) }
    both("symlink", "EROFS") { result(symlink("hello", $0 + "/link")) }
    both("link", "EROFS") { result(link($0 + "/hello", $0 + "/hard")) }
    both("mknod fifo", "EROFS") { result(mknod($0 + "/fifo", S_IFIFO | 0o644, 0)) }
    both("setxattr", "EROFS") {
      result(Libc.setxattr($0 + "/hello", "user.x", "v", 1, 0))
    }
  }

  func testReadsFsyncAndListingWork() {
    both("read", "Hello from Swift!\n") {
      (try? String(contentsOfFile: $0 + "/hello", encoding: .utf8)) ?? errnoName(errno)
    }
    // fsync(2) on a read-only file and on the directory: success, as
    // noop_fsync() answers (the default was EINVAL).
    both("fsync file", "OK") { path in
      let fd = open(path + "/hello", O_RDONLY)
      defer { if fd >= 0 { close(fd) } }
      return fd < 0 ? errnoName(errno) : result(fsync(fd))
    }
    both("fdatasync file", "OK") { path in
      let fd = open(path + "/hello", O_RDONLY)
      defer { if fd >= 0 { close(fd) } }
      return fd < 0 ? errnoName(errno) : result(fdatasync(fd))
    }
    both("fsync dir", "OK") { path in
      let fd = open(path, O_RDONLY | O_DIRECTORY)
      defer { if fd >= 0 { close(fd) } }
      return fd < 0 ? errnoName(errno) : result(fsync(fd))
    }
    both("ls -a", ".\n..\nhello") { runCommand("ls", ["-a", $0], timeout: 30).out }
  }
}
