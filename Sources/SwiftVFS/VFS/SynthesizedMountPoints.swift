/// Mount points the VFS shows itself: a superblock mounted on a name that the
/// directory's own file system does not hold. This is how /dev and /proc are
/// composed over any root (a read-only tree, one whose mkdir says EPERM, or
/// memfs) without asking that file system to make a directory, as an
/// initramfs ships empty /dev and /proc directories for the same purpose.
///
/// The VFS answers for these names itself: a lookup finds the mounted root
/// before asking the directory's file system, a listing shows each name
/// once after the file system's own entries (with cookies of their own, in
/// `cookieBase...`), the directory's link count includes them, and
/// rmdir, rename, unlink and link treat them as the busy mount points they
/// are (EBUSY, EISDIR, EEXIST), as the kernel does for a covered directory.
///
/// Locking: the table has its own lock, innermost (taken under a namespace
/// lock, never holding another lock while it is held).
final class SynthesizedMountPoints: @unchecked Sendable {
  /// Listing cookies at and above this belong to synthesized entries: the
  /// entry at index i has cookie `cookieBase + i + 1` (resume after it).
  static let cookieBase = Int64.max - 65_536

  private let lock = Lock()
  // guarded by lock: directory ino -> its synthesized names, in mount order
  private var byDirectory: [UInt64: [(name: FileName, superBlock: SuperBlock)]] = [:]

  func add(in dir: Inode, name: FileName, superBlock: SuperBlock) {
    lock.withLock { byDirectory[dir.ino, default: []].append((name, superBlock)) }
  }

  /// The root of the superblock mounted on `name` in `dir`, if any.
  func root(in dir: Inode, named name: FileName) -> Inode? {
    lock.withLock {
      byDirectory[dir.ino]?.first { $0.name == name }?.superBlock.root
    }
  }

  /// The synthesized names in `dir`, in listing order.
  func entries(in dir: Inode) -> [(name: FileName, superBlock: SuperBlock)] {
    lock.withLock { byDirectory[dir.ino] ?? [] }
  }

  /// How many synthesized mount points `dir` holds (each adds a link: its "..").
  func count(in dir: Inode) -> UInt32 {
    lock.withLock { UInt32(byDirectory[dir.ino]?.count ?? 0) }
  }

  /// Whether `dir` holds synthesized mount points (then it cannot be removed
  /// or renamed: EBUSY).
  func holdsAny(_ dir: Inode) -> Bool {
    lock.withLock { !(byDirectory[dir.ino]?.isEmpty ?? true) }
  }
}

extension VFS {
  /// Like iterate_dir() over a directory that holds synthesized mount
  /// points: the file system's entries (minus any it grew under a mounted
  /// name, which the mount hides), then one entry per mount point. A cookie
  /// in the synthesized range resumes among them without asking the file
  /// system again.
  func iterateWithSynthesized(
    _ file: File, from offset: Int64, inodes: Bool = true, _ emit: (DirEntry) -> Bool
  ) throws(Errno) {
    let synthesized = synthesizedMountPoints.entries(in: file.inode)
    guard !synthesized.isEmpty else {
      return try file.fileOps.iterate(file, from: offset, inodes: inodes, emit)
    }
    let base = SynthesizedMountPoints.cookieBase
    var first = 0
    if offset >= base {
      first = Int(offset - base)
    } else {
      var stopped = false
      try file.fileOps.iterate(file, from: offset, inodes: inodes) { entry in
        if synthesized.contains(where: { $0.name == entry.name }) { return true }
        if emit(entry) { return true }
        stopped = true
        return false
      }
      if stopped { return }
    }
    guard first < synthesized.count else { return }
    for index in first..<synthesized.count {
      let root = synthesized[index].superBlock.root
      let entry = DirEntry(
        name: synthesized[index].name, ino: root.ino, type: .directory,
        offset: base + Int64(index) + 1, inode: root)
      if !emit(entry) { return }
    }
  }

  /// `iterateWithSynthesized` for a listing of names
  /// (`FileOperations.iterateNames`): the same entries, cookies and order,
  /// each name borrowed for the `emit` call only.
  func iterateNamesWithSynthesized(
    _ file: File, from offset: Int64, _ emit: (DirEntryView) -> Bool
  ) throws(Errno) {
    let synthesized = synthesizedMountPoints.entries(in: file.inode)
    guard !synthesized.isEmpty else {
      return try file.fileOps.iterateNames(file, from: offset, emit)
    }
    let base = SynthesizedMountPoints.cookieBase
    var first = 0
    if offset >= base {
      first = Int(offset - base)
    } else {
      var stopped = false
      try file.fileOps.iterateNames(file, from: offset) { entry in
        if synthesized.contains(where: { $0.name.bytes.elementsEqual(entry.name) }) {
          return true
        }
        if emit(entry) { return true }
        stopped = true
        return false
      }
      if stopped { return }
    }
    guard first < synthesized.count else { return }
    for index in first..<synthesized.count {
      let root = synthesized[index].superBlock.root
      let more = synthesized[index].name.bytes.withUnsafeBytes { name in
        emit(
          DirEntryView(
            name: name, ino: root.ino, type: .directory, offset: base + Int64(index) + 1,
            inode: root))
      }
      if !more { return }
    }
  }
}
