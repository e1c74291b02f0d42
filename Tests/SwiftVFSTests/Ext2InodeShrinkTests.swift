// The inode cache's bound on a disk file system (VFS/InodeCache.swift,
// `SuperBlock.maxCachedInodes`, ext2's `dropInode`), through the public
// API: past the bound the cache lets idle inodes go while the kernel still
// holds them, keeping their lookups; a request for one loads the same inode
// again (number, generation, data); a FORGET of one let go is counted; an
// inode with dirty pages is written back before it goes; an open file is kept.

import Foundation
import SwiftVFS
import XCTest

#if canImport(Glibc)
  import Glibc
#endif

/// An inode's identity, kept without keeping the inode.
private final class WeakInode {
  weak var inode: Inode?
  init(_ inode: Inode) { self.inode = inode }
}

final class Ext2InodeShrinkTests: XCTestCase {
  private var scratch: ScratchDirectory!
  private var vfs: VFS!
  private let bound = 8
  private var pageCache: PageCache!

  override func setUpWithError() throws {
    scratch = try ScratchDirectory("swiftvfs-ext2shrink")
    let image = scratch.path + "/s.img"
    let (status, output) = try runTool(
      "/usr/sbin/mke2fs", ["-q", "-F", "-t", "ext2", "-b", "4096", image, "8M"])
    XCTAssertEqual(status, 0, output)
    vfs = VFS()
    // A clock that stands still: the flusher never finds dirty data old
    // enough to write, so only the syncs below clean the pages.
    pageCache = vfs.subsystem(PageCache.self) { PageCache(clock: { 0 }) }
    try vfs.filesystems.register(Ext2FileSystem())
    try vfs.mount("ext2", at: "/", options: MountOptions(parsing: "source=\(image)"))
    vfs.root.sb.maxCachedInodes = bound
  }

  override func tearDownWithError() throws {
    vfs?.unmountAll()
    vfs = nil
    pageCache = nil
    try? scratch?.remove()
    scratch = nil
  }

  private var stats: InodeCache.Stats {
    vfs.icache.statsBySuperBlock[vfs.root.sb.id] ?? InodeCache.Stats()
  }

  /// Makes `name` with `text` in it, closed; the kernel holds one lookup.
  @discardableResult
  private func make(_ name: String, _ text: String) throws -> Inode {
    let (inode, fh, file) = try vfs.create(
      vfs.root, FileName(name), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    let bytes = Array(text.utf8)
    _ = try bytes.withUnsafeBytes { try vfs.write(file, from: $0, at: 0) }
    vfs.release(fh)
    return inode
  }

  func testIdleInodesPastTheBoundAreLetGoAndLoadedAgain() throws {
    // Made in a function of its own, so that no local keeps the inodes.
    let numbers = try { () throws -> [(UInt64, UInt64, WeakInode)] in
      var out: [(UInt64, UInt64, WeakInode)] = []
      for i in 0..<40 {
        let inode = try make("f\(i)", "text \(i)")
        out.append((inode.ino, inode.generation, WeakInode(inode)))
      }
      return out
    }()
    // The flusher never ran (the clock stands still), yet inodes were let
    // go: the shrinker wrote their dirty pages back itself.
    XCTAssertGreaterThan(stats.dropped, 0, "files with dirty pages are written and let go")
    XCTAssertGreaterThan(pageCache.stats.pagesWritten, 0, "their pages were written")
    // Every lookup handed to the kernel finds the cache past its bound.
    // The dcache still names every file: the inodes let go lose their
    // dentries (Dcache.pruneAliases), or those would keep them in memory.
    for i in 0..<3 { try make("trigger\(i)", "x") }
    let s = stats
    XCTAssertLessThanOrEqual(s.inUse, bound, "\(s)")
    XCTAssertGreaterThan(s.dropped, 0, "\(s)")
    XCTAssertEqual(s.lookups, 43 + 1, "every lookup still counted (and the root's): \(s)")
    let gone = numbers.filter { $0.2.inode == nil }
    XCTAssertFalse(gone.isEmpty, "some inode objects were freed, dentries and all")
    XCTAssertEqual(gone.count, s.dropped, "every inode let go was freed")

    // A request names one by number: the inode is loaded from the disk.
    let (ino, generation, _) = try XCTUnwrap(gone.first)
    let again = try vfs.inode(ino)
    XCTAssertEqual(again.ino, ino)
    XCTAssertEqual(again.generation, generation)
    let index = try XCTUnwrap(numbers.firstIndex { $0.0 == ino })
    XCTAssertEqual(
      try readBytes(vfs, again, at: 0, count: 64), Array("text \(index)".utf8))
    XCTAssertTrue(vfs.kernelHolds(again), "its lookup came back with it")
    XCTAssertTrue(try vfs.inode(ino) === again, "one object per inode")

    // FORGET of an inode let go: the count goes, and nothing names it.
    let (other, _, _) = try XCTUnwrap(gone.dropFirst().first)
    let before = stats
    vfs.forget(other, count: 1)
    let after = stats
    XCTAssertEqual(after.lookups, before.lookups - 1)
    XCTAssertEqual(after.dropped, before.dropped - 1)
    XCTAssertThrowsError(try vfs.inode(other), "the kernel holds no lookup")
  }

  func testAnOpenFileIsKept() throws {
    let (inode, fh, _) = try vfs.create(
      vfs.root, FileName("open"), mode: 0o644, flags: O_RDWR | O_CREAT, cred: .root)
    for i in 0..<3 * bound { try make("f\(i)", "") }
    try vfs.syncFS(vfs.root)
    _ = vfs.dcache.shrink(to: 0)
    try make("trigger", "")
    XCTAssertGreaterThan(stats.dropped, 0)
    XCTAssertTrue(try vfs.inode(inode.ino) === inode, "an open file stays cached")
    vfs.release(fh)
  }
}
