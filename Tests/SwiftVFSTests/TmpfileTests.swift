import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSFileSystems

#if canImport(Glibc)
  import Glibc
#endif

/// `VFS.tmpfile` on memfs, as open(O_TMPFILE) on tmpfs: nlink 0, linkable
/// unless O_EXCL, freed at the last close and forget if never linked.
final class TmpfileTests: MemfsTestCase {
  func testTmpfileHasNoNameAndLinkGivesItOneWithoutAnotherInodeCharge() throws {
    let inodes0 = h.sb.usedInodes
    let (inode, fh, file) = try vfs.tmpfile(root, mode: 0o600, flags: Int32(O_RDWR), cred: .root)
    XCTAssertEqual(inode.nlink, 0)
    XCTAssertEqual(inode.type, .regular)
    XCTAssertEqual(inode.mode & 0o7777, 0o600)
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 1)
    XCTAssertEqual(try h.names(root).filter { $0 != "." && $0 != ".." }, [])
    let n = try [UInt8]("data".utf8).withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
    XCTAssertEqual(n, 4)
    assertConsistent(vfs)  // an orphan held by its open file and its lookup

    let linked = try vfs.link(inode, root, "named")
    XCTAssertTrue(linked === inode)
    XCTAssertEqual(inode.nlink, 1)
    XCTAssertFalse(inode.linkable, "vfs_link() clears I_LINKABLE")
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 1, "the first name costs no second inode")
    vfs.release(fh)
    vfs.forget(inode.ino, count: 2)
    XCTAssertTrue(try h.walk("named") === inode)
    XCTAssertEqual(inode.size, 4)
  }

  func testExclusiveTmpfileCannotBeLinked() throws {
    let (inode, fh, _) = try vfs.tmpfile(
      root, mode: 0o600, flags: Int32(O_RDWR) | OpenFlags.exclusive, cred: .root)
    defer {
      vfs.release(fh)
      vfs.forget(inode.ino, count: 1)
    }
    XCTAssertFalse(inode.linkable)
    XCTAssertEqual(vtErrno { _ = try self.vfs.link(inode, self.root, "x") }, .ENOENT)
    XCTAssertEqual(vtErrno { _ = try self.h.walk("x") }, .ENOENT)
  }

  func testUnlinkedTmpfileIsFreedAtLastCloseAndForget() throws {
    let inodes0 = h.sb.usedInodes
    let blocks0 = h.sb.usedBlocks
    let (inode, fh, file) = try vfs.tmpfile(root, mode: 0o644, flags: Int32(O_RDWR), cred: .root)
    let bytes = vtBytes(3 * 4096)
    _ = try bytes.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
    XCTAssertGreaterThan(h.sb.usedBlocks, blocks0)
    vfs.release(fh)
    XCTAssertEqual(h.sb.usedInodes, inodes0, "no name, no open file: freed at the last close")
    XCTAssertEqual(h.sb.usedBlocks, blocks0)
    XCTAssertTrue(vfs.icache.vtEvicted(inode))
    XCTAssertEqual(vtErrno { _ = try self.vfs.link(inode, self.root, "late") }, .ENOENT)
    vfs.forget(inode.ino, count: 1)
  }

  func testTmpfileErrors() throws {
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.tmpfile(self.root, mode: 0o600, flags: 0, cred: .root) }, .EINVAL)
    let f = try h.file(root, "f")
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.tmpfile(f, mode: 0o600, flags: Int32(O_RDWR), cred: .root) },
      .ENOTDIR)
    // An ordinary file whose last name went is still not linkable.
    let (g, fh, _) = try vfs.create(
      root, "g", mode: 0o644, flags: Int32(O_RDWR) | OpenFlags.create, cred: .root)
    try vfs.unlink(root, "g")
    XCTAssertEqual(vtErrno { _ = try self.vfs.link(g, self.root, "again") }, .ENOENT)
    vfs.release(fh)
    vfs.forget(g.ino, count: 1)
  }
}
