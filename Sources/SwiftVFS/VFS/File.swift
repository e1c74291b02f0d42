/// One open file, like `struct file`: the inode, the open flags, the fops in
/// force and the driver's private state. FUSE names it by the `fh` that `open`
/// returned (the VFS's `FileTable` is the analog of current->files->fd_array).
///
/// Locking: `position` and `privateData`'s contents are the file operations'
/// business; they take `lock` when the same File can be used concurrently.
public final class File: @unchecked Sendable {
  /// The open inode (f_inode).
  public let inode: Inode
  /// open(2) flags (O_ACCMODE, O_APPEND, O_NONBLOCK, ...).
  public let flags: Int32
  /// Who opened it (f_cred).
  public let cred: Cred
  /// f_op: the inode's fops, or a device's after chrdev_open.
  public var fileOps: FileOperations
  /// f_pos, for files whose fops keep their own position (devices).
  public var position: Int64 = 0
  /// The file operations' own state for this open (private_data).
  public var privateData: AnyObject?
  /// Guards `position` and `privateData`'s contents when fops need it.
  public let lock = Lock()

  /// Hints for the kernel cache, set by `open`: bypass the page cache (for
  /// devices and generated files whose size is not known), keep cached data.
  public var directIO = false
  /// Keep the kernel's cached pages of the file at open (FOPEN_KEEP_CACHE).
  public var keepCache = false
  /// The file has no position: pread and lseek fail with ESPIPE (FOPEN_NONSEEKABLE).
  public var nonSeekable = false
  /// No FLUSH on close(2): for files whose ->flush does nothing.
  public var noFlush = false
  /// For directories: the kernel may cache the listing (it drops it itself
  /// when it changes the directory).
  public var cacheDirectory = false

  /// A file open on `inode` with `flags`, served by `fileOps`.
  public init(inode: Inode, flags: Int32, cred: Cred, fileOps: FileOperations) {
    self.inode = inode
    self.flags = flags
    self.cred = cred
    self.fileOps = fileOps
  }

  /// Opened for reading (not O_WRONLY).
  public var isReadable: Bool { flags & 3 != 1 }  // not O_WRONLY
  /// Opened for writing (O_WRONLY or O_RDWR).
  public var isWritable: Bool { flags & 3 != 0 }  // O_WRONLY or O_RDWR
  /// Opened with O_NONBLOCK: fops answer EAGAIN instead of sleeping.
  public var isNonBlocking: Bool { flags & 0o4000 != 0 }  // O_NONBLOCK
  /// Opened with O_APPEND.
  public var isAppend: Bool { flags & 0o2000 != 0 }  // O_APPEND
  /// Opened with O_DIRECT (the kernel's IOCB_DIRECT): reads and writes
  /// should go around the file system's own page cache.
  public var isDirect: Bool { flags & OpenFlags.direct != 0 }
  /// Opened with O_DIRECT on a file whose data the kernel caches (not a
  /// device or generated file, which use direct I/O for every open).
  public var bypassesKernelCache: Bool { isDirect && !directIO }
}
