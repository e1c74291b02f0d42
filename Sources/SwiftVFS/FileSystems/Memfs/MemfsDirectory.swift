import SwiftVFSCore
import Synchronization

/// A memfs directory's entries, kept in the directory inode as a disk file
/// system keeps them in its blocks; the dcache is a cache above this.
///
/// Entries sit in slots in creation order; a removed entry leaves an empty
/// slot, so the readdir cookie of every other entry (its slot number + 3)
/// stays valid while the directory changes. Empty slots are squeezed out only
/// when no one has the directory open.
///
/// Locking: guarded by the superblock's namespace lock (written under its
/// write side, read under either); `openCount` is atomic.
final class MemfsDirectory {
  struct Slot {
    let name: FileName
    let inode: Inode
    /// The inode's number and type (which never change), kept here so that
    /// a listing of names need not touch each inode (one cache miss each).
    let ino: UInt64
    let type: FileType

    init(name: FileName, inode: Inode) {
      self.name = name
      self.inode = inode
      self.ino = inode.ino
      self.type = inode.type
    }
  }

  private var index: [FileName: Int] = [:]
  private(set) var slots: [Slot?] = []
  /// Open handles on the directory (opendir/releasedir).
  let openCount = Atomic<Int>(0)

  /// A directory freed with entries in it (a whole tree at unmount) hands its
  /// children to `DeferredRelease`: a tree as deep as its longest path must
  /// not be freed one directory inside another.
  deinit {
    guard !index.isEmpty else { return }
    var children: [AnyObject] = slots.compactMap { $0?.inode }
    slots = []
    index = [:]
    DeferredRelease.release(&children)
  }

  var count: Int { index.count }
  var isEmpty: Bool { index.isEmpty }

  func lookup(_ name: FileName) -> Inode? {
    guard let i = index[name] else { return nil }
    return slots[i]?.inode
  }

  func insert(_ name: FileName, _ inode: Inode) {
    index[name] = slots.count
    slots.append(Slot(name: name, inode: inode))
  }

  /// Points an existing name at another inode, keeping its place.
  func replace(_ name: FileName, with inode: Inode) {
    guard let i = index[name] else { return insert(name, inode) }
    slots[i] = Slot(name: name, inode: inode)
  }

  @discardableResult
  func remove(_ name: FileName, compact: Bool) -> Inode? {
    guard let i = index.removeValue(forKey: name) else { return nil }
    let inode = slots[i]?.inode
    slots[i] = nil
    if compact { compactIfSparse() }
    return inode
  }

  /// The cookie that resumes a listing after slot `i`.
  static func cookie(afterSlot i: Int) -> Int64 { Int64(i) + 3 }
  /// The first slot to list for a cookie (cookies 1 and 2 are "." and "..").
  static func slot(forCookie cookie: Int64) -> Int { Int(max(cookie - 2, 0)) }

  private func compactIfSparse() {
    let holes = slots.count - index.count
    guard holes > 64, holes > index.count, openCount.load(ordering: .acquiring) == 0 else {
      return
    }
    let live = slots.compactMap { $0 }
    slots = live.map { Optional($0) }
    for (i, slot) in live.enumerated() { index[slot.name] = i }
  }
}

/// One listing of an open directory (its `File`'s private data): where the
/// listing ends, fixed when it starts at offset 0 (opendir or rewinddir).
///
/// An entry created or renamed into the directory during the listing takes a
/// new slot at the end, past that point, so the listing does not show it, as
/// on tmpfs (whose new and moved dentries go to the head of d_children,
/// behind its cursor). So a renamed entry may be missed, but no entry is ever
/// listed twice, under its old name and then its new one.
final class MemfsListing {
  private let lock = Lock()
  private var end_: Int?

  /// The first slot past the listing; fixed at offset 0 (or at the first
  /// call of a listing that starts by seeking elsewhere).
  func end(startingAt offset: Int64, slots: Int) -> Int {
    lock.withLock {
      if offset == 0 || end_ == nil { end_ = slots }
      return end_!
    }
  }
}
