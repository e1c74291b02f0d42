import SwiftVFSCore

/// A read-only regular file whose content is fixed bytes, or made by a
/// closure each time it is opened (like the kernel's simple_read_from_buffer
/// behind a debugfs or proc file, and go-fuse's `MemRegularFile`).
///
/// Use it as both tables of an inode (`ReadOnlyFile.inode(...)` does that),
/// in any file system: put the inode in a `StaticDirectory`, a
/// `MemoryDirectory`, or your own directory's `lookup`.
///
/// - Fixed bytes: the size is their count, and the kernel may keep the pages
///   it read (they never change).
/// - Generated: the closure runs at each open, and that open reads the
///   snapshot it made (a reader reading in pieces sees one state). `stat`
///   runs it too, to report its size. The file is opened with direct I/O, so
///   the kernel never serves stale pages or clips a read to an old size, as
///   for /proc files. Keep the closure cheap and without side effects.
///
/// Writing answers as a read-only proc or sysfs file does: an open for
/// writing (or with O_TRUNC) and a truncate are EACCES (kernfs_fop_open()),
/// even for root; chmod and chown are EPERM (proc_setattr()); times may be
/// set (`touch` works). fsync succeeds: there is nothing to write back.
///
/// What it does not do: it keeps no data of its own beyond the bytes given,
/// and has no xattrs (EOPNOTSUPP).
public struct ReadOnlyFile: InodeOperations, FileOperations {
  /// Where the content comes from.
  public enum Content: Sendable {
    /// Fixed bytes.
    case bytes([UInt8])
    /// Bytes made at each open.
    case generated(@Sendable () -> [UInt8])
  }

  /// The content this file serves.
  public let content: Content

  /// A file holding `bytes`.
  public init(_ bytes: [UInt8]) { content = .bytes(bytes) }
  /// A file holding `text` as UTF-8.
  public init(_ text: String) { content = .bytes(Array(text.utf8)) }
  /// A file whose content `generate` makes at each open.
  public init(generate: @escaping @Sendable () -> [UInt8]) { content = .generated(generate) }

  /// A new inode in `sb` with this file's tables, mode `0444` unless told,
  /// owned by `cred`, its size set.
  public func inode(in sb: SuperBlock, mode: UInt32 = 0o444, cred: Cred = .root) throws(Errno)
    -> Inode
  {
    let inode = try sb.newInode(
      mode: FileType.regular.rawValue | mode & ModeBits.permissions, cred: cred, ops: self,
      fileOps: self)
    if case .bytes(let bytes) = content { inode.size = Int64(bytes.count) }
    return inode
  }

  /// The open's snapshot of generated content.
  private final class Snapshot: @unchecked Sendable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
  }

  // MARK: Inode operations

  /// The inode's fields; for generated content, the size of what the
  /// closure makes now.
  public func getattr(_ inode: Inode) throws(Errno) -> Stat {
    var st = Simple.getattr(inode)
    if case .generated(let generate) = content { st.size = Int64(generate().count) }
    return st
  }

  /// Times may change; the size is EACCES, mode and owner EPERM, as a
  /// read-only proc file answers.
  public func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    if attr.size != nil { throw .EACCES }
    if attr.mode != nil || attr.uid != nil || attr.gid != nil { throw .EPERM }
    inode.lock.withLock { Simple.applyLocked(inode, attr) }
  }

  // MARK: File operations

  /// EACCES for writing, as kernfs_fop_open() answers for a file without
  /// ->write; a generated file takes its snapshot and uses direct I/O.
  public func open(_ inode: Inode, _ file: File) throws(Errno) {
    if file.isWritable { throw .EACCES }
    file.noFlush = true
    switch content {
    case .bytes:
      file.keepCache = true
    case .generated(let generate):
      file.directIO = true
      file.privateData = Snapshot(generate())
    }
  }

  /// Copies from the bytes (or the open's snapshot) at `offset`; 0 at the end.
  public func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    switch content {
    case .bytes(let bytes):
      return ReadOnlyFile.copy(bytes, into: buffer, at: offset)
    case .generated:
      guard let snapshot = file.privateData as? Snapshot else { return 0 }
      return ReadOnlyFile.copy(snapshot.bytes, into: buffer, at: offset)
    }
  }

  /// Nothing to write back.
  public func fsync(_ file: File, dataOnly: Bool) throws(Errno) {}

  /// Like simple_read_from_buffer(): the bytes of `source` from `offset`
  /// that fit in `buffer`.
  public static func copy(
    _ source: [UInt8], into buffer: UnsafeMutableRawBufferPointer, at offset: Int64
  ) -> Int {
    guard offset >= 0, offset < Int64(source.count) else { return 0 }
    let start = Int(offset)
    let n = min(buffer.count, source.count - start)
    source.withUnsafeBytes { src in
      buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + n)]))
    }
    return n
  }
}
