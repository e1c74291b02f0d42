import Foundation
import SwiftVFS
import SwiftVFSTesting
import Testing
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// Mounting from a program of one's own: `FuseMount` and `withMount` serve a
/// VFS in this very process; /dev and /proc are composed over a custom
/// read-only root that has no `dev` or `proc` and whose mkdir is EPERM.
final class EmbedTests: XCTestCase {
  override func setUpWithError() throws {
    try super.setUpWithError()
    guard access("/dev/fuse", F_OK) == 0, getuid() == 0 else {
      if MountTestCase.isCI { XCTFail("no /dev/fuse or not root") }
      throw XCTSkip("needs /dev/fuse and root")
    }
  }

  func testWithMountServesAVFSAndCleansUp() throws {
    var mountedAt = ""
    let text = try withMount(try ReadOnlyTree.vfs()) { path in
      mountedAt = path
      XCTAssertNotNil(MountInfo.at(path), "mounted during the body")
      XCTAssertEqual(sh("ls -a \(shq(path))").stdout, ".\n..\nhello\n")
      XCTAssertEqual(result(mkdir(path + "/new", 0o755)), "EPERM", "the root's mkdir")
      return try String(contentsOfFile: path + "/hello", encoding: .utf8)
    }
    XCTAssertEqual(text, ReadOnlyTree.text)
    XCTAssertNil(MountInfo.at(mountedAt), "unmounted after the body")
    XCTAssertEqual(result(access(mountedAt, F_OK)), "ENOENT", "the directory is removed")
  }

  func testWithMountUnmountsWhenTheBodyThrows() throws {
    struct Boom: Error {}
    var mountedAt = ""
    XCTAssertThrowsError(
      try withMount(try ReadOnlyTree.vfs()) { path in
        mountedAt = path
        XCTAssertEqual(sh("cat \(shq(path))/hello").stdout, ReadOnlyTree.text)
        throw Boom()
      }
    ) { XCTAssertTrue($0 is Boom, "the body's error: \($0)") }
    XCTAssertFalse(mountedAt.isEmpty)
    XCTAssertNil(MountInfo.at(mountedAt))
    XCTAssertEqual(result(access(mountedAt, F_OK)), "ENOENT")
  }

  /// A file the body leaves open would keep the lazily unmounted loop alive:
  /// teardown aborts the connection after the timeout instead of hanging.
  func testWithMountAbortsWhenAFileIsLeftOpen() throws {
    var options = FuseMount.Options()
    options.unmountTimeout = 1
    var fd: Int32 = -1
    var mountedAt = ""
    try withMount(try ReadOnlyTree.vfs(), options: options) { path in
      mountedAt = path
      fd = open(path + "/hello", O_RDONLY)
      XCTAssertGreaterThanOrEqual(fd, 0)
    }
    XCTAssertNil(MountInfo.at(mountedAt))
    var byte: UInt8 = 0
    XCTAssertEqual(read(fd, &byte, 1), -1, "the aborted connection serves nothing")
    close(fd)
  }

  func testDevAndProcOverAReadOnlyRoot() throws {
    let vfs = try ReadOnlyTree.vfs()
    try vfs.mountDevAndProc()
    try withMount(vfs) { path in
      XCTAssertEqual(sh("ls -a \(shq(path))").stdout, ".\n..\ndev\nhello\nproc\n", "each once")
      let dev = sh("ls \(shq(path))/dev").stdout.split(separator: "\n")
      for name in ["full", "null", "urandom", "zero"] {
        XCTAssertTrue(dev.contains(Substring(name)), "/dev lists \(name): \(dev)")
      }
      XCTAssertTrue(
        sh("cat \(shq(path))/proc/devices").stdout.contains("  1 mem\n"), "proc/devices")
      let zero = sh("head -c 16 \(shq(path))/dev/zero | od -An -tx1 | tr -d ' \\n'")
      XCTAssertEqual(zero.stdout, String(repeating: "00", count: 16), "/dev/zero reads zeros")
      // "." and ".." right: /dev's parent is the root, and the root counts
      // both mount points as subdirectories.
      XCTAssertEqual(statPath(path + "/dev/..")?.st_ino, statPath(path)?.st_ino)
      XCTAssertEqual(statPath(path + "/proc/..")?.st_ino, statPath(path)?.st_ino)
      let rootLinks = vfs.root.lock.withLock { vfs.root.nlink }
      XCTAssertEqual(statPath(path)?.st_nlink, UInt(rootLinks) + 2)
      // Busy mount points, as the kernel answers for a covered directory.
      XCTAssertEqual(result(rmdir(path + "/dev")), "EBUSY")
      XCTAssertEqual(result(rename(path + "/proc", path + "/p")), "EBUSY")
      XCTAssertEqual(result(rename(path + "/hello", path + "/dev")), "EISDIR", "may_delete first")
      XCTAssertEqual(result(mkdir(path + "/dev", 0o755)), "EEXIST")
      XCTAssertEqual(result(unlink(path + "/proc")), "EISDIR")
      // The mounted file systems work below: a node made in /dev.
      XCTAssertEqual(sh("mknod \(shq(path))/dev/mine c 1 3 && echo ok").stdout, "ok\n")
    }
  }

  /// Trap 3: the README's two-call device example in an embedding program.
  func testDevtmpfsCreateNodeNeedsADevAndWorksWithOne() throws {
    let vfs = try ReadOnlyTree.vfs()
    let major = try vfs.chrdevs.registerChrdev(name: "hello", fileOps: HelloDevice())
    let dev = try DevT(major: major, minor: 0)
    XCTAssertThrowsError(try vfs.devtmpfsCreateNode("hello", dev: dev, mode: 0o444)) {
      XCTAssertEqual($0 as? Errno, .ENODEV, "no devtmpfs is mounted")
    }
    try vfs.mountDevAndProc()
    try vfs.devtmpfsCreateNode("hello", dev: dev, mode: 0o444)
    try withMount(vfs) { path in
      XCTAssertEqual(sh("cat \(shq(path))/dev/hello").stdout, "hello from a driver\n")
    }
  }

  func testMountErrorsNameTheCallAndErrno() throws {
    let vfs = try ReadOnlyTree.vfs()
    func failure(_ path: String) -> MountError? {
      do {
        let mount = try FuseMount(vfs, at: path)
        try? mount.unmountBlocking()
        return nil
      } catch {
        return error
      }
    }
    let missing = failure("/nonexistent/swiftvfs-embed")
    XCTAssertEqual(missing?.call, .mountPointCheck)
    XCTAssertEqual(missing?.errno, .ENOENT)
    XCTAssertEqual(
      missing?.description,
      "mount point check /nonexistent/swiftvfs-embed: ENOENT (No such file or directory)")

    let dir = try makeTempDir("embed-errors")
    defer { rmdir(dir) }
    let file = dir + "/file"
    XCTAssertTrue(FileManager.default.createFile(atPath: file, contents: Data("x".utf8)))
    defer { unlink(file) }
    let regular = failure(file)
    XCTAssertEqual(regular?.call, .mountPointCheck)
    XCTAssertEqual(regular?.errno, .ENOTDIR)

    let first = try FuseMount(vfs, at: dir)
    first.start()
    let again = failure(dir)
    XCTAssertEqual(again?.call, .mountPointCheck)
    XCTAssertEqual(again?.errno, .EBUSY)
    try first.unmountBlocking()
    XCTAssertTrue(first.isClosed)
    XCTAssertNil(MountInfo.at(dir))

    XCTAssertNil(failure(dir), "the directory mounts again once it is free")
    do {
      _ = try FuseMount(VFS(), at: dir)
      XCTFail("a VFS without a root mounted")
    } catch {
      XCTAssertEqual(error.call, .rootCheck)
      XCTAssertEqual(error.errno, .EINVAL)
    }

    var bad = FuseMount.Options()
    bad.kernelOptions = ["no_such_option_here"]
    do {
      let mount = try FuseMount(vfs, at: dir, options: bad)
      try? mount.unmountBlocking()
      XCTFail("an unknown option mounted")
    } catch {
      XCTAssertTrue([.sessionNew, .sessionMount].contains(error.call), "\(error)")
      XCTAssertNil(MountInfo.at(dir))
    }
  }

  func testHandleRunsUntilUnmountAndUnmountsTwice() async throws {
    let dir = try makeTempDir("embed-handle")
    defer { rmdir(dir) }
    let mount = try FuseMount(try ReadOnlyTree.vfs(), at: dir)
    let serving = Task { try await mount.run() }
    let text = try String(contentsOfFile: dir + "/hello", encoding: .utf8)
    XCTAssertEqual(text, ReadOnlyTree.text)
    try await mount.unmount()
    XCTAssertTrue(mount.isClosed)
    XCTAssertNil(MountInfo.at(dir))
    try await serving.value  // run() returned: the loop ended cleanly
    try await mount.unmount()  // a second call does nothing
  }

  /// A handle dropped while serving unmounts.
  func testAHandleLetGoUnmounts() throws {
    let dir = try makeTempDir("embed-dropped")
    defer { rmdir(dir) }
    do {
      let mount = try FuseMount(try ReadOnlyTree.vfs(), at: dir)
      mount.start()
      XCTAssertEqual(sh("cat \(shq(dir))/hello").stdout, ReadOnlyTree.text)
    }
    XCTAssertNil(MountInfo.at(dir))
  }

  /// An outside unmount (umount(8)) ends `run()`, which frees the session.
  func testRunEndsWhenUnmountedFromOutside() async throws {
    let dir = try makeTempDir("embed-outside")
    defer { rmdir(dir) }
    let mount = try FuseMount(try ReadOnlyTree.vfs(), at: dir)
    mount.start()
    XCTAssertEqual(sh("cat \(shq(dir))/hello").stdout, ReadOnlyTree.text)
    XCTAssertEqual(runCommand("umount", [dir]).status, 0)
    try await mount.run()
    XCTAssertTrue(mount.isClosed)
  }
}

/// The same helper from Swift Testing, with an async body.
@Test func withMountFromSwiftTesting() async throws {
  guard access("/dev/fuse", F_OK) == 0, getuid() == 0 else {
    if MountTestCase.isCI { Issue.record("no /dev/fuse or not root") }
    return
  }
  let text = try await withMount(try ReadOnlyTree.vfs()) { path in
    try await Task.detached { try String(contentsOfFile: path + "/hello", encoding: .utf8) }.value
  }
  #expect(text == ReadOnlyTree.text)
}

/// A custom read-only root: one file, `hello`; mkdir and the rest answer
/// with the defaults (EPERM). It has no `dev` or `proc`.
final class ReadOnlyTree: FileSystemType {
  static let text = "Hello from a read-only tree\n"
  let name = "rotree"

  static func vfs() throws -> VFS {
    let vfs = VFS()
    try vfs.filesystems.register(ReadOnlyTree())
    try vfs.mount("rotree", at: "/", options: MountOptions())
    return vfs
  }

  func mount(_ context: MountContext) throws(Errno) -> SuperBlock {
    let sb = SuperBlock(fsType: self, ops: Super(), context: context, magic: 0x524f_5452)
    let directory = Directory()
    let root = try sb.newInode(
      mode: FileType.directory.rawValue | 0o555, cred: context.cred, ops: directory,
      fileOps: directory)
    let hello = try sb.newInode(
      mode: FileType.regular.rawValue | 0o444, cred: context.cred, ops: TextFile(),
      fileOps: TextFile())
    hello.size = Int64(ReadOnlyTree.text.utf8.count)
    directory.hello = hello
    sb.setRoot(root)
    return sb
  }

  struct Super: SuperOperations {}

  final class Directory: InodeOperations, FileOperations, @unchecked Sendable {
    var hello: Inode?  // set once, before the mount is served

    func lookup(_ dir: Inode, _ name: FileName) throws(Errno) -> Inode? {
      name == "hello" ? hello : nil
    }

    func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
      guard let hello else { return }
      let root = file.inode
      let parent = root.parentDirectory ?? root
      let entries = [
        DirEntry(name: ".", ino: root.ino, type: .directory, offset: 1, inode: nil),
        DirEntry(name: "..", ino: parent.ino, type: .directory, offset: 2, inode: nil),
        DirEntry(name: "hello", ino: hello.ino, type: .regular, offset: 3, inode: hello),
      ]
      for entry in entries.dropFirst(Int(max(0, min(offset, 3)))) {
        if !emit(entry) { return }
      }
    }
  }

  struct TextFile: InodeOperations, FileOperations {
    func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
      throws(Errno) -> Int
    {
      let bytes = Array(ReadOnlyTree.text.utf8)
      guard offset < bytes.count else { return 0 }
      let n = min(buffer.count, bytes.count - Int(offset))
      buffer.copyBytes(from: bytes[Int(offset)..<Int(offset) + n])
      return n
    }
  }
}

/// The README's driver: a read-only device that says hello.
struct HelloDevice: FileOperations {
  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    let bytes = Array("hello from a driver\n".utf8)
    guard offset < bytes.count else { return 0 }
    let n = min(buffer.count, bytes.count - Int(offset))
    buffer.copyBytes(from: bytes[Int(offset)..<Int(offset) + n])
    return n
  }
}
