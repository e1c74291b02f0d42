import SwiftVFS
import XCTest

@testable import SwiftVFSCore
@testable import SwiftVFSDevices
@testable import SwiftVFSFileSystems
@testable import SwiftVFSFuse

final class InodeLifetimeTests: MemfsTestCase {
  func testLookupCountsAddUpAndForgetTakesThemAway() throws {
    let (inode, fh, _) = try vfs.create(
      root, "f", mode: 0o644, flags: Int32(O_RDWR) | OpenFlags.create, cred: .root)
    vfs.release(fh)
    XCTAssertEqual(vfs.icache.vtLookups(inode), 1, "create hands one entry to the kernel")
    _ = try vfs.lookup(root, "f")
    _ = try vfs.lookup(root, "f")
    XCTAssertEqual(vfs.icache.vtLookups(inode), 3)
    vfs.hold(inode)  // readdirplus
    XCTAssertEqual(vfs.icache.vtLookups(inode), 4)
    XCTAssertTrue(try vfs.inode(inode.ino) === inode)
    vfs.forget(inode.ino, count: 3)
    XCTAssertEqual(vfs.icache.vtLookups(inode), 1)
    XCTAssertTrue(try vfs.inode(inode.ino) === inode)
    let usedBefore = h.sb.usedInodes
    vfs.forget(inode.ino, count: 1)
    XCTAssertEqual(vtErrno { _ = try self.vfs.inode(inode.ino) }, .ENOENT, "kernel forgot it")
    XCTAssertEqual(h.sb.usedInodes, usedBefore, "still linked: not evicted")
    XCTAssertFalse(vfs.icache.vtEvicted(inode))
    XCTAssertTrue(try h.walk("f") === inode)
    XCTAssertEqual(vfs.icache.stats.evicted, 0)
  }

  func testMoreForgetsThanLookupsAreClamped() throws {
    let inode = try vfs.mkdir(root, "d", mode: 0o755, cred: .root)
    vfs.forget(inode.ino, count: 10)
    XCTAssertEqual(vfs.icache.vtLookups(inode), 0)
    XCTAssertEqual(vtErrno { _ = try self.vfs.inode(inode.ino) }, .ENOENT)
    vfs.forget(inode.ino, count: 1)  // unknown now: ignored
    XCTAssertNoThrow(try h.walk("d"))
  }

  /// As on tmpfs, an unlinked file's storage goes back at unlink (or at its
  /// last close), so df shows it at once; the kernel's lookups keep only the
  /// inode number valid (getattr answers, nlink 0) until the last forget.
  func testUnlinkFreesAtOnceAndForgetToZeroDropsTheNumberExactlyOnce() throws {
    let inodes0 = h.sb.usedInodes
    let blocks0 = h.sb.usedBlocks
    let evicted0 = h.sb.evictedInodes
    let f = try h.file(root, "f", vtBytes(3 * 4096))
    _ = try vfs.lookup(root, "f")
    _ = try vfs.lookup(root, "f")  // the kernel holds two lookups
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 1)
    XCTAssertEqual(h.sb.usedBlocks, blocks0 + 3)
    try vfs.unlink(root, "f")
    XCTAssertEqual(h.sb.usedInodes, inodes0, "storage is freed at unlink, as tmpfs frees it")
    XCTAssertEqual(h.sb.usedBlocks, blocks0)
    XCTAssertEqual(h.sb.evictedInodes, evicted0 + 1)
    XCTAssertEqual(vfs.icache.stats.evicted, 1)
    XCTAssertTrue(vfs.icache.vtEvicted(f))
    XCTAssertTrue(try vfs.inode(f.ino) === f, "the number stays valid while the kernel holds it")
    XCTAssertEqual(try vfs.getattr(f).nlink, 0)
    vfs.forget(f.ino, count: 1)
    XCTAssertTrue(try vfs.inode(f.ino) === f)
    vfs.forget(f.ino, count: 1)
    XCTAssertEqual(vtErrno { _ = try self.vfs.inode(f.ino) }, .ENOENT, "last forget")
    vfs.forget(f.ino, count: 1)
    vfs.hold(f)
    vfs.forget(f.ino, count: 1)
    XCTAssertEqual(h.sb.usedInodes, inodes0, "evicted once only")
    XCTAssertEqual(h.sb.evictedInodes, evicted0 + 1)
    XCTAssertEqual(vfs.icache.stats.evicted, 1)
  }

  /// After an unlinked inode is freed, the kernel may still name it (it holds
  /// a lookup): an O_PATH descriptor reopened through /proc/self/fd sends
  /// OPEN for it. Whatever the answer (tmpfs would still have the data), it
  /// must not let writes allocate pages that nothing ever frees.
  func testOpeningAFreedInodeByNumberLeaksNothing() throws {
    let f = try h.file(root, "f", vtBytes(100))
    _ = try vfs.lookup(root, "f")
    try vfs.unlink(root, "f")
    XCTAssertEqual(h.sb.usedBlocks, 0)
    let inode = try vfs.inode(f.ino)
    if let (fh, file) = try? vfs.open(inode, flags: Int32(O_RDWR), cred: .root) {
      let data = vtBytes(3 * 4096)
      _ = try? data.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
      vfs.release(fh)
    }
    vfs.forget(f.ino, count: 1)
    XCTAssertEqual(h.sb.usedBlocks, 0, "pages written to a freed inode are never given back")
    XCTAssertEqual(h.sb.usedInodes, 1)
  }

  func testUnlinkOfAnInodeNobodyHoldsEvictsAtOnce() throws {
    let inodes0 = h.sb.usedInodes
    let f = try h.file(root, "f", vtBytes(5000))
    XCTAssertEqual(h.sb.usedBlocks, 2)
    try vfs.unlink(root, "f")
    XCTAssertEqual(h.sb.usedInodes, inodes0)
    XCTAssertEqual(h.sb.usedBlocks, 0)
    XCTAssertTrue(vfs.icache.vtEvicted(f))
  }

  func testOpenFileKeepsAnUnlinkedInodeAliveUntilRelease() throws {
    let inodes0 = h.sb.usedInodes
    let (f, fh, file) = try vfs.create(
      root, "f", mode: 0o644, flags: Int32(O_RDWR) | OpenFlags.create, cred: .root)
    vfs.forget(f.ino, count: 1)  // the kernel forgets; the file stays open
    XCTAssertEqual(vfs.icache.vtOpens(f), 1)
    try vfs.unlink(root, "f")
    XCTAssertEqual(vtErrno { _ = try self.h.walk("f") }, .ENOENT)
    let data = vtBytes(10000)
    XCTAssertEqual(try data.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }, 10000)
    var back = [UInt8](repeating: 0, count: 10000)
    XCTAssertEqual(try back.withUnsafeMutableBytes { try vfs.read(file, into: $0, at: 0) }, 10000)
    XCTAssertEqual(back, data)
    XCTAssertEqual(h.sb.usedBlocks, 3)
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 1)
    XCTAssertTrue(try vfs.inode(f.ino) === f, "an open file keeps the number valid")
    assertConsistent(vfs)
    vfs.release(fh)
    XCTAssertEqual(h.sb.usedBlocks, 0)
    XCTAssertEqual(h.sb.usedInodes, inodes0)
    XCTAssertTrue(vfs.icache.vtEvicted(f))
    XCTAssertEqual(vfs.openFileCount, 0)
    XCTAssertEqual(vtErrno { _ = try self.vfs.file(fh) }, .EBADF)
    vfs.release(fh)  // a second release is ignored
    XCTAssertEqual(h.sb.usedInodes, inodes0)
  }

  func testTwoOpenFilesAndALookupMustAllGo() throws {
    let inodes0 = h.sb.usedInodes
    let f = try h.file(root, "f", [1, 2, 3])
    _ = try vfs.lookup(root, "f")
    let (fh1, _) = try vfs.open(f, flags: Int32(O_RDONLY), cred: .root)
    let (fh2, _) = try vfs.open(f, flags: Int32(O_WRONLY), cred: .root)
    try vfs.unlink(root, "f")
    vfs.release(fh1)
    vfs.forget(f.ino, count: 1)
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 1)
    XCTAssertFalse(vfs.icache.vtEvicted(f))
    vfs.release(fh2)
    XCTAssertEqual(h.sb.usedInodes, inodes0)
    XCTAssertTrue(vfs.icache.vtEvicted(f))
  }

  func testRootIsPinned() throws {
    vfs.forget(root.ino, count: 1_000_000)
    XCTAssertTrue(try vfs.inode(1) === root, "the root is FUSE's node 1 and never goes")
    XCTAssertEqual(root.ino, 1)
    XCTAssertEqual(vtErrno { try self.vfs.rmdir(self.root, ".") }, .EINVAL)
    XCTAssertFalse(vfs.icache.vtEvicted(root))
  }

  func testHardLinksKeepTheInodeUntilTheLastName() throws {
    let inodes0 = h.sb.usedInodes
    let f = try h.file(root, "a", vtBytes(100))
    let d = try h.dir(root, "d")
    try h.link(f, d, "b")
    try vfs.unlink(root, "a")
    XCTAssertEqual(try h.stat(f).nlink, 1)
    XCTAssertFalse(vfs.icache.vtEvicted(f))
    XCTAssertEqual(try h.readAll(try h.walk("d/b")), vtBytes(100))
    try vfs.unlink(d, "b")
    XCTAssertTrue(vfs.icache.vtEvicted(f))
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 1, "only d is left")
  }

  func testEachExtraNameIsChargedAsAnInodeAsOnTmpfs() throws {
    let inodes0 = h.sb.usedInodes
    let f = try h.file(root, "a")
    try h.link(f, root, "b")
    try h.link(f, root, "c")
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 3, "shmem_link reserves an inode per name")
    try vfs.unlink(root, "b")
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 2)
    try h.file(root, "x")
    try vfs.rename(root, "x", root, "c")  // c's name goes; the inode keeps a
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 2)
    try vfs.unlink(root, "a")
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 1)
    XCTAssertEqual(h.sb.usedBlocks, 0)
  }

  func testRenameOverAFileEvictsTheReplacedInode() throws {
    let inodes0 = h.sb.usedInodes
    let a = try h.file(root, "a", vtBytes(10))
    let b = try h.file(root, "b", vtBytes(3 * 4096))
    XCTAssertEqual(h.sb.usedBlocks, 4)
    try vfs.rename(root, "a", root, "b")
    XCTAssertTrue(vfs.icache.vtEvicted(b))
    XCTAssertFalse(vfs.icache.vtEvicted(a))
    XCTAssertEqual(h.sb.usedBlocks, 1)
    XCTAssertEqual(h.sb.usedInodes, inodes0 + 1)
  }

  func testRenameOverAHeldFileFreesItAtOnce() throws {
    try h.file(root, "a")
    let b = try h.file(root, "b", vtBytes(4096))
    _ = try vfs.lookup(root, "b")
    try vfs.rename(root, "a", root, "b")
    XCTAssertEqual(try h.stat(b).nlink, 0)
    XCTAssertTrue(vfs.icache.vtEvicted(b))
    XCTAssertEqual(h.sb.usedBlocks, 0)
    XCTAssertTrue(try vfs.inode(b.ino) === b)
    vfs.forget(b.ino, count: 1)
    XCTAssertEqual(vtErrno { _ = try self.vfs.inode(b.ino) }, .ENOENT)
    XCTAssertEqual(vfs.icache.stats.evicted, 1)
  }

  func testRmdirFreesAtOnceAndTheDeadDirectoryTakesNoEntries() throws {
    let inodes0 = h.sb.usedInodes
    let d = try vfs.mkdir(root, "d", mode: 0o755, cred: .root)
    try vfs.rmdir(root, "d")
    XCTAssertEqual(try h.stat(d).nlink, 0)
    XCTAssertEqual(h.sb.usedInodes, inodes0)
    XCTAssertTrue(vfs.icache.vtEvicted(d))
    XCTAssertEqual(vtErrno { _ = try self.vfs.mkdir(d, "x", mode: 0o755, cred: .root) }, .ENOENT)
    XCTAssertEqual(vtErrno { try self.h.file(d, "x") }, .ENOENT)
    vfs.forget(d.ino, count: 1)
    XCTAssertEqual(h.sb.usedInodes, inodes0)
    XCTAssertEqual(vfs.icache.stats.evicted, 1)
  }

  func testAnOpenDirectoryOutlivesRmdir() throws {
    let d = try h.dir(root, "d")
    let (fh, file) = try vfs.open(d, flags: 0, cred: .root)
    try vfs.rmdir(root, "d")
    XCTAssertFalse(vfs.icache.vtEvicted(d))
    var names: [String] = []
    try vfs.readdir(file, from: 0) { e in
      names.append(e.name.description)
      return true
    }
    XCTAssertEqual(names, [".", ".."])
    assertConsistent(vfs)
    vfs.release(fh)
    XCTAssertTrue(vfs.icache.vtEvicted(d))
  }

  func testInodeNumbersAreUniqueAndNeverReused() throws {
    var seen: Set<UInt64> = [root.ino]
    var generations: Set<UInt64> = [root.generation]
    for round in 0..<3 {
      for n in 0..<20 {
        let f = try h.file(root, "f\(n)")
        XCTAssertTrue(seen.insert(f.ino).inserted, "ino \(f.ino) reused in round \(round)")
        XCTAssertTrue(generations.insert(f.generation).inserted)
        XCTAssertEqual(try h.stat(f).ino, f.ino)
        XCTAssertEqual(try h.stat(f).generation, f.generation)
      }
      for n in 0..<20 { try vfs.unlink(root, try FileName("f\(n)")) }
    }
  }

  func testIcacheStatsCountLookupsAndOpenFiles() throws {
    let base = vfs.icache.stats
    let f = try h.file(root, "f")
    _ = try vfs.lookup(root, "f")
    _ = try vfs.lookup(root, "f")
    let (fh, _) = try vfs.open(f, flags: Int32(O_RDONLY), cred: .root)
    let s = vfs.icache.stats
    XCTAssertEqual(s.inUse, base.inUse + 1)
    XCTAssertEqual(s.lookups, base.lookups + 2)
    XCTAssertEqual(s.openFiles, base.openFiles + 1)
    vfs.release(fh)
    vfs.forget(f.ino, count: 2)
    XCTAssertEqual(vfs.icache.stats, base)
  }
}
