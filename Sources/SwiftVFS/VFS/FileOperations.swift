/// The file operations table, like `struct file_operations`: what happens to
/// an open `File`. A char device driver supplies one of these, as in C.
///
/// Defaults in the extension answer as the kernel does for an empty slot.
/// Offsets come from FUSE with each request; a device that keeps its own
/// position uses `file.position`.
public protocol FileOperations: Sendable {
  /// Linux: ->open. Called when a File is made; may set its private data,
  /// direct I/O, or replace `file.fileOps` (chrdev_open does).
  func open(_ inode: Inode, _ file: File) throws(Errno)
  /// Linux: ->read. Fills `buffer` from `offset`; returns the bytes read (0 at EOF).
  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  /// Linux: ->splice_read, loosely: hands `sink` the file's own bytes at
  /// `offset` as slices of its storage, valid only during the call, so the
  /// caller can send them without a copy. Returns false if the file cannot
  /// (then `read` is used).
  func spliceRead(
    _ file: File, at offset: Int64, count: Int, to sink: ([UnsafeRawBufferPointer]) -> Void
  ) throws(Errno) -> Bool
  /// Linux: ->write. Returns the bytes written.
  func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno)
    -> Int
  /// Linux: ->iterate_shared. Emits entries after cookie `offset` until `emit`
  /// returns false (the buffer is full).
  func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno)
  /// Linux: ->iterate_shared, for a listing that shows names, numbers and
  /// types only (getdents, FUSE READDIR): with `inodes` false the file
  /// system may leave `inode` nil on an entry that is neither a directory
  /// nor a character device (the only ones whose inode the VFS and FUSE
  /// look at then: a mount point, a device's view), and so need not find
  /// each inode. Entries, cookies and order are those of `iterate`.
  func iterate(
    _ file: File, from offset: Int64, inodes: Bool, _ emit: (DirEntry) -> Bool
  ) throws(Errno)
  /// Linux: ->iterate_shared, for a listing of names (getdents, FUSE
  /// READDIR) that copies each entry out at once, as the kernel's filldir
  /// callbacks copy the name that dir_emit() hands them: each entry's name
  /// is borrowed from the file system's own storage and valid only during
  /// the `emit` call (see `DirEntryView`), so a listing need not make a
  /// `FileName` or a `DirEntry` per entry. Entries, cookies and order are
  /// those of `iterate`; an entry's inode may be left out as in
  /// `iterate(_:from:inodes:_:)` with `inodes` false, and also for a
  /// directory (the VFS finds covered mount points by number).
  func iterateNames(_ file: File, from offset: Int64, _ emit: (DirEntryView) -> Bool)
    throws(Errno)
  /// Linux: ->flush, on each close(2) of a descriptor.
  func flush(_ file: File) throws(Errno)
  /// Linux: ->release, when the last reference to the File goes.
  func release(_ inode: Inode, _ file: File)
  /// Linux: ->fsync.
  func fsync(_ file: File, dataOnly: Bool) throws(Errno)
  /// Linux: ->llseek, as FUSE asks for it: SEEK_DATA and SEEK_HOLE.
  func llseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64
  /// Linux: ->unlocked_ioctl. `input` holds the bytes the command passes in;
  /// returns the result and the bytes to copy out (at most `outputSize`).
  func ioctl(
    _ file: File, command: UInt32, argument: UInt64, input: UnsafeRawBufferPointer,
    outputSize: Int
  ) throws(Errno) -> (result: Int32, output: [UInt8])
  /// Linux: ->poll. Returns what is ready now; if nothing, keeps `waiter` and
  /// wakes it later.
  func poll(_ file: File, waiter: PollWaiter?) -> PollEvents
  /// Linux: ->fallocate.
  func fallocate(_ file: File, mode: Int32, offset: Int64, length: Int64) throws(Errno)

  /// Whether these are `AsyncFileOperations`, whose requests the bridge
  /// serves in a Task. Set by the protocol extensions: do not implement.
  var isAsyncFileOperations: Bool { get }
}

extension FileOperations {
  public func open(_ inode: Inode, _ file: File) throws(Errno) {}
  /// No ->read: EINVAL, as vfs_read answers.
  public func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { throw .EINVAL }
  public func spliceRead(
    _ file: File, at offset: Int64, count: Int, to sink: ([UnsafeRawBufferPointer]) -> Void
  ) throws(Errno) -> Bool { false }
  /// No ->write: EINVAL, as vfs_write answers (do_dentry_open() lets the
  /// open for writing succeed, without FMODE_CAN_WRITE). A file system whose
  /// files can never be written declares itself read-only
  /// (`FileSystemType.readOnly`): then the open itself is EROFS, as on a
  /// kernel file system mounted `ro`.
  public func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  { throw .EINVAL }
  /// No ->iterate_shared: ENOTDIR, as iterate_dir answers.
  public func iterate(_ file: File, from offset: Int64, _ emit: (DirEntry) -> Bool) throws(Errno) {
    throw .ENOTDIR
  }
  /// `iterate`, with every inode: right for a file system whose entries
  /// carry their inodes at no cost.
  public func iterate(
    _ file: File, from offset: Int64, inodes: Bool, _ emit: (DirEntry) -> Bool
  ) throws(Errno) {
    try iterate(file, from: offset, emit)
  }
  /// `iterate` with `inodes` false, each entry's name lent from its
  /// `FileName`: right for a file system whose entries are made anyway.
  public func iterateNames(_ file: File, from offset: Int64, _ emit: (DirEntryView) -> Bool)
    throws(Errno)
  {
    try iterate(file, from: offset, inodes: false) { entry in
      entry.name.bytes.withUnsafeBytes { name in
        emit(
          DirEntryView(
            name: name, ino: entry.ino, type: entry.type, offset: entry.offset,
            inode: entry.inode))
      }
    }
  }
  public func flush(_ file: File) throws(Errno) {}
  public func release(_ inode: Inode, _ file: File) {}
  /// No ->fsync: success, like libfs's noop_fsync(), which in-memory file
  /// systems (ramfs, tmpfs's directories) install; a file system whose data
  /// needs writing back implements it. The kernel answers EINVAL for an
  /// empty slot (vfs_fsync_range()), which would make `fsync(1)`, editors and
  /// `cp --sync` fail on a file system that has nothing to sync, so that stays
  /// only for char devices, whose drivers leave the slot empty (fsync on
  /// /dev/null is EINVAL).
  public func fsync(_ file: File, dataOnly: Bool) throws(Errno) {
    if file.inode.type == .characterDevice { throw .EINVAL }
  }
  public func llseek(_ file: File, offset: Int64, whence: Int32) throws(Errno) -> Int64 {
    try Simple.llseek(file, offset: offset, whence: whence)
  }
  /// No ->unlocked_ioctl: ENOTTY.
  public func ioctl(
    _ file: File, command: UInt32, argument: UInt64, input: UnsafeRawBufferPointer,
    outputSize: Int
  ) throws(Errno) -> (result: Int32, output: [UInt8]) { throw .ENOTTY }
  /// No ->poll: always ready (DEFAULT_POLLMASK).
  public func poll(_ file: File, waiter: PollWaiter?) -> PollEvents { .default }
  /// No ->fallocate: EOPNOTSUPP.
  public func fallocate(_ file: File, mode: Int32, offset: Int64, length: Int64) throws(Errno) {
    throw .EOPNOTSUPP
  }
  public var isAsyncFileOperations: Bool { false }
}

/// Operations for a file that has none of its own (FIFOs, sockets: the kernel
/// serves them itself and never opens them here).
public struct NoFileOperations: FileOperations {
  /// The empty table.
  public init() {}
}
