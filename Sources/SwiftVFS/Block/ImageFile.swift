// An image file as a block device's medium, like drivers/block/loop.c: the
// device's sectors are the file's bytes, READ is pread, WRITE is pwrite, and
// FLUSH is fsync (lo_req_flush() calls vfs_fsync()). With `directIO`, the
// file is opened O_DIRECT (loop's LO_FLAGS_DIRECT_IO), so the host's page
// cache is bypassed; the transfers then go through a page-aligned bounce
// buffer when the caller's memory is not aligned, as O_DIRECT requires.
//
// Locking: none needed; pread and pwrite at explicit offsets are safe from
// any thread, and `fd` never changes until deinit.

import SwiftVFSCore

#if canImport(Glibc)
  import Glibc
#endif

/// An image file backend (loop): pread/pwrite at the sector's byte offset, fsync on FLUSH.
public final class ImageFile: BlockDriver, @unchecked Sendable {
  /// O_DIRECT from <fcntl.h>, which Swift's Glibc module does not import
  /// (it needs _GNU_SOURCE). The value differs between architectures.
  #if arch(x86_64) || arch(i386)
    static let oDirect: Int32 = 0o40000
  #else
    static let oDirect: Int32 = 0o200000
  #endif
  /// The alignment of the bounce buffer: a page, enough for any device's
  /// logical block (O_DIRECT wants memory aligned to it).
  static let directAlignment = 4096

  /// The path the image was opened from.
  public let path: String
  /// The image's size in bytes when it was opened.
  public let sizeInBytes: UInt64
  /// Whether the file was opened read-only (then WRITE fails in the host with EBADF → EIO).
  public let readOnly: Bool
  /// The same as `readOnly`: a device over a read-only image is read-only.
  public var mediumIsReadOnly: Bool { readOnly }
  /// Whether the file was opened with O_DIRECT.
  public let directIO: Bool
  private let fd: Int32

  /// Opens the image at `path`: read-write, or read-only with `readOnly`;
  /// with O_DIRECT when `directIO`.
  ///
  /// Errors, as open(2) and the loop driver give them: a missing file is
  /// ENOENT, a directory is EISDIR, something that is neither a regular file
  /// nor a block device is EINVAL (loop_validate_file()), no permission is
  /// EACCES, and a file system that refuses O_DIRECT is EINVAL.
  public init(path: String, readOnly: Bool = false, directIO: Bool = false) throws(Errno) {
    var flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
    if directIO { flags |= ImageFile.oDirect }
    let fd = open(path, flags)
    guard fd >= 0 else { throw Errno(errno > 0 ? errno : EIO) }
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      let error = errno
      close(fd)
      throw Errno(error > 0 ? error : EIO)
    }
    let type = st.st_mode & S_IFMT
    guard type == S_IFREG || type == S_IFBLK else {
      close(fd)
      throw type == S_IFDIR ? .EISDIR : .EINVAL
    }
    // lseek(SEEK_END) gives the size of a regular file and of a block device alike.
    let end = lseek(fd, 0, SEEK_END)
    guard end >= 0 else {
      close(fd)
      throw .EIO
    }
    self.path = path
    self.fd = fd
    self.sizeInBytes = UInt64(end)
    self.readOnly = readOnly
    self.directIO = directIO
  }

  deinit { close(fd) }

  /// pread until the buffer is full; a file that ends early (it shrank) is EIO.
  public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    if directIO, Int(bitPattern: base) % ImageFile.directAlignment != 0 {
      try withBounceBuffer(count: buffer.count) { (bounce) throws(Errno) in
        try transfer(read: true, at: offset, bounce, count: buffer.count)
        base.copyMemory(from: bounce, byteCount: buffer.count)
      }
      return
    }
    try transfer(read: true, at: offset, base, count: buffer.count)
  }

  /// pwrite until all of the buffer is written; ENOSPC (a sparse image on a
  /// full host) is passed on, any other failure is EIO.
  public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) throws(Errno) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    if directIO, Int(bitPattern: base) % ImageFile.directAlignment != 0 {
      try withBounceBuffer(count: buffer.count) { (bounce) throws(Errno) in
        bounce.copyMemory(from: base, byteCount: buffer.count)
        try transfer(read: false, at: offset, bounce, count: buffer.count)
      }
      return
    }
    try transfer(
      read: false, at: offset, UnsafeMutableRawPointer(mutating: base), count: buffer.count)
  }

  /// fsync(2) of the image (lo_req_flush()); a failure is EIO.
  public func flush() throws(Errno) {
    while fsync(fd) != 0 {
      if errno != EINTR { throw .EIO }
    }
  }

  /// Moves `count` bytes between `memory` and the file at `offset`, looping
  /// over short transfers and EINTR.
  private func transfer(
    read: Bool, at offset: UInt64, _ memory: UnsafeMutableRawPointer, count: Int
  )
    throws(Errno)
  {
    guard offset <= UInt64(Int64.max) - UInt64(count) else { throw .EIO }
    var done = 0
    while done < count {
      let position = off_t(offset) + off_t(done)
      let n =
        read
        ? pread(fd, memory + done, count - done, position)
        : pwrite(fd, memory + done, count - done, position)
      if n < 0 {
        if errno == EINTR { continue }
        throw !read && errno == ENOSPC ? .ENOSPC : .EIO
      }
      if n == 0 { throw .EIO }  // the file ended before the device did
      done += n
    }
  }

  /// Runs `body` with a page-aligned buffer of `count` bytes (posix_memalign).
  private func withBounceBuffer(
    count: Int, _ body: (UnsafeMutableRawPointer) throws(Errno) -> Void
  ) throws(Errno) {
    var memory: UnsafeMutableRawPointer?
    guard posix_memalign(&memory, ImageFile.directAlignment, count) == 0, let bounce = memory
    else { throw .ENOMEM }
    defer { free(bounce) }
    try body(bounce)
  }
}
