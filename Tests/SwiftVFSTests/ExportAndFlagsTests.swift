import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

/// File handles (LOOKUP of "." and ".." by number), RENAME_WHITEOUT and the
/// chattr flags, in the VFS without a mount.
final class ExportAndFlagsTests: MemfsTestCase {
  // MARK: File handles

  func testAnInodeTheKernelForgotIsFoundByNumber() throws {
    let d = try h.dir(root, "d")
    let f = try h.file(d, "f", [7])
    // The harness holds no lookups: the kernel has forgotten both.
    XCTAssertEqual(vtErrno { _ = try self.vfs.inode(f.ino) }, .ENOENT)
    let found = try vfs.exportLookup(f.ino, ".")
    XCTAssertTrue(found === f)
    XCTAssertNoThrow(try vfs.inode(f.ino), "the kernel now holds it")
    vfs.forget(f.ino, count: 1)
    let parent = try vfs.exportLookup(d.ino, "..")
    XCTAssertTrue(parent === root)
    vfs.forget(root.ino, count: 1)
    XCTAssertEqual(vtErrno { _ = try self.vfs.exportLookup(f.ino, "..") }, .ENOTDIR)
  }

  func testAnUnlinkedInodeIsStaleUnlessOpen() throws {
    let f = try h.file(root, "f", [1])
    let g = try h.file(root, "g", [2])
    let (fh, _) = try vfs.open(g, flags: Int32(O_RDONLY), cred: .root)
    try vfs.unlink(root, "f")
    try vfs.unlink(root, "g")
    XCTAssertEqual(vtErrno { _ = try self.vfs.exportLookup(f.ino, ".") }, VFS.staleHandle)
    // Open and unlinked: still live, as on tmpfs.
    XCTAssertTrue(try vfs.exportLookup(g.ino, ".") === g)
    vfs.forget(g.ino, count: 1)
    vfs.release(fh)
    XCTAssertEqual(vtErrno { _ = try self.vfs.exportLookup(g.ino, ".") }, VFS.staleHandle)
    XCTAssertEqual(vtErrno { _ = try self.vfs.exportLookup(999_999, ".") }, VFS.staleHandle)
    XCTAssertNil(h.sb.liveInode(f.ino), "eviction leaves the index")
  }

  // MARK: RENAME_WHITEOUT

  func testRenameWhiteoutLeavesACharNodeZeroZeroOwnedByTheCaller() throws {
    let a = try h.file(root, "a", [1])
    try h.file(root, "b", [2])
    let sizeBefore = try h.stat(root).size
    try vfs.rename(root, "a", root, "c", flags: .whiteout, cred: vtUser)
    let w = try h.walk("a")
    let st = try h.stat(w)
    XCTAssertEqual(st.mode, FileType.characterDevice.rawValue)
    XCTAssertEqual(st.rdev, .zero)
    XCTAssertEqual(st.uid, 1000)
    XCTAssertTrue(try h.walk("c") === a)
    XCTAssertEqual(try h.stat(root).size, sizeBefore + Memfs.direntSize)
    // Over an existing target.
    try vfs.rename(root, "c", root, "b", flags: .whiteout)
    XCTAssertEqual(try h.readAll(try h.walk("b")), [1])
    XCTAssertEqual(try h.names(root).sorted(), ["a", "b", "c"])
    XCTAssertEqual(
      vtErrno {
        try self.vfs.rename(self.root, "b", self.root, "a", flags: [.whiteout, .exchange])
      },
      .EINVAL)
  }

  func testRenameWhiteoutOverANonEmptyDirectoryChangesNothing() throws {
    try h.dir(root, "d")
    let full = try h.dir(root, "full")
    try h.file(full, "x")
    let used = h.sb.usedInodes
    XCTAssertEqual(
      vtErrno { try self.vfs.rename(self.root, "d", self.root, "full", flags: .whiteout) },
      .ENOTEMPTY)
    XCTAssertEqual(h.sb.usedInodes, used)
    XCTAssertEqual(try h.names(root).sorted(), ["d", "full"])
  }

  // MARK: chattr flags

  func testOnlyTheOwnerOrRootSetsFlagsAndOnlyRootIOrA() throws {
    let f = try h.file(root, "f", cred: vtUser)
    let other = Cred(uid: 1001, gid: 1001)
    XCTAssertEqual(vtErrno { try self.vfs.setFlags(f, .noAtime, cred: other) }, .EPERM)
    XCTAssertNoThrow(try vfs.setFlags(f, [.noAtime, .noDump], cred: vtUser))
    XCTAssertEqual(vtErrno { try self.vfs.setFlags(f, .immutable, cred: vtUser) }, .EPERM)
    XCTAssertEqual(vtErrno { try self.vfs.setFlags(f, .appendOnly, cred: vtUser) }, .EPERM)
    XCTAssertEqual(vtErrno { try self.vfs.setFlags(f, .sync, cred: .root) }, .EOPNOTSUPP)
    try vfs.setFlags(f, .immutable, cred: .root)
    XCTAssertEqual(f.flags, .immutable)
    // Clearing i is privileged too.
    XCTAssertEqual(vtErrno { try self.vfs.setFlags(f, [], cred: vtUser) }, .EPERM)
  }

  func testImmutableRefusesEveryChange() throws {
    let d = try h.dir(root, "d")
    let f = try h.file(d, "f", [1, 2])
    try vfs.setFlags(f, .immutable, cred: .root)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.open(f, flags: Int32(O_WRONLY), cred: .root) }, .EPERM)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.open(f, flags: OpenFlags.truncate, cred: .root) }, .EPERM)
    XCTAssertEqual(vtErrno { try self.vfs.unlink(d, "f") }, .EPERM)
    XCTAssertEqual(vtErrno { try self.vfs.rename(d, "f", d, "g") }, .EPERM)
    XCTAssertEqual(vtErrno { _ = try self.vfs.link(f, d, "g") }, .EPERM)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.setattr(f, SetAttr(mode: 0o600), cred: .root) }, .EPERM)
    XCTAssertEqual(vtErrno { _ = try self.vfs.setattr(f, SetAttr(size: 0), cred: .root) }, .EPERM)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.setattr(f, SetAttr(atime: .now, mtime: .now), cred: .root) },
      .EPERM)
    XCTAssertEqual(
      vtErrno { try self.vfs.setxattr(f, "user.x", [1], flags: [], cred: .root) }, .EPERM)
    XCTAssertEqual(try h.readAll(f), [1, 2], "reads still work")
    // An immutable directory takes no new names.
    try vfs.setFlags(d, .immutable, cred: .root)
    XCTAssertEqual(vtErrno { try self.h.file(d, "new") }, .EPERM)
    try vfs.setFlags(d, [], cred: .root)
    try vfs.setFlags(f, [], cred: .root)
    XCTAssertNoThrow(try vfs.unlink(d, "f"))
  }

  func testAppendOnlyAllowsOnlyAppending() throws {
    let f = try h.file(root, "f", [1])
    try vfs.setFlags(f, .appendOnly, cred: .root)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.open(f, flags: Int32(O_WRONLY), cred: .root) }, .EPERM)
    XCTAssertEqual(
      vtErrno {
        _ = try self.vfs.open(
          f, flags: Int32(O_WRONLY) | OpenFlags.append | OpenFlags.truncate, cred: .root)
      }, .EPERM)
    let (fh, file) = try vfs.open(f, flags: Int32(O_WRONLY) | OpenFlags.append, cred: .root)
    XCTAssertEqual(try [UInt8]([2]).withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }, 1)
    vfs.release(fh)
    XCTAssertEqual(try h.readAll(f), [1, 2], "O_APPEND writes at the end")
    XCTAssertEqual(vtErrno { try self.vfs.unlink(self.root, "f") }, .EPERM)
    XCTAssertEqual(
      vtErrno { _ = try self.vfs.setattr(f, SetAttr(size: 0), cred: .root, throughFile: true) },
      .EPERM)
    XCTAssertNoThrow(try vfs.setattr(f, SetAttr(atime: .now, mtime: .now), cred: .root))
  }

  func testNoatimeStopsAtimeAndIsInherited() throws {
    let d = try h.dir(root, "d")
    try vfs.setFlags(d, [.noAtime, .noDump], cred: .root)
    let f = try h.file(d, "f", [1])
    XCTAssertEqual(f.flags, [.noAtime, .noDump])
    h.age(f)
    let before = try h.stat(f).atime
    _ = try h.readAll(f)
    XCTAssertEqual(try h.stat(f).atime, before)
    try vfs.setFlags(f, [], cred: .root)
    _ = try h.readAll(f)
    XCTAssertNotEqual(try h.stat(f).atime, before)
  }

  func testFlagIoctlsSpeakFourBytesAndFsxattr() throws {
    let f = try h.file(root, "f")
    let (fh, file) = try vfs.open(f, flags: Int32(O_RDONLY), cred: .root)
    defer { vfs.release(fh) }
    let set = withUnsafeBytes(of: UInt32(0x90).littleEndian) { Array($0) }  // i + A
    _ = try set.withUnsafeBytes {
      try vfs.ioctl(file, command: 0x4008_6602, argument: 0, input: $0, outputSize: 0)
    }
    let got = try vfs.ioctl(
      file, command: 0x8008_6601, argument: 0, input: UnsafeRawBufferPointer(start: nil, count: 0),
      outputSize: 4)
    XCTAssertEqual(got.output, [0x90, 0, 0, 0])
    let x = try vfs.ioctl(
      file, command: 0x801C_581F, argument: 0, input: UnsafeRawBufferPointer(start: nil, count: 0),
      outputSize: 28)
    XCTAssertEqual(x.output.count, 28)
    XCTAssertEqual(x.output[0], 0x48)  // FS_XFLAG_IMMUTABLE | FS_XFLAG_NOATIME
    try vfs.setFlags(f, [], cred: .root)
  }
}
