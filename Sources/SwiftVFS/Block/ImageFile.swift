// An image file as a block device's medium, like drivers/block/loop.c: the
// device's sectors are the file's bytes, READ is pread (preadv for a
// scattered bio), WRITE is pwrite (pwritev), and
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

  /// preadv of all the segments (a scattered READ: the pages of a run,
  /// filled with one system call); a short file is EIO as for one buffer.
  public func read(at offset: UInt64, intoSegments segments: [UnsafeMutableRawBufferPointer])
    throws(Errno)
  {
    guard segments.allSatisfy({ isDirectReady($0) }) else {
      // Memory O_DIRECT refuses: segment by segment through the bounce buffer.
      return try readEachSegment(at: offset, into: segments)
    }
    try transfer(read: true, at: offset, segments)
  }

  /// pwritev of all the segments, back to back; errors as for one buffer.
  public func write(at offset: UInt64, fromSegments segments: [UnsafeRawBufferPointer])
    throws(Errno)
  {
    let mutable = segments.map { UnsafeMutableRawBufferPointer(mutating: $0) }
    guard mutable.allSatisfy({ isDirectReady($0) }) else {
      return try writeEachSegment(at: offset, from: segments)
    }
    try transfer(read: false, at: offset, mutable)
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

  /// Whether `segment` can go to the file as it is: always, unless the file
  /// is O_DIRECT and the memory is not aligned (nor a whole number of
  /// alignment units long, as an O_DIRECT iovec must be).
  private func isDirectReady(_ segment: UnsafeMutableRawBufferPointer) -> Bool {
    guard directIO else { return true }
    guard let base = segment.baseAddress else { return false }
    return Int(bitPattern: base) % ImageFile.directAlignment == 0
      && segment.count % ImageFile.directAlignment == 0
  }

  /// The most iovecs one preadv/pwritev takes (IOV_MAX).
  static let iovMax = 1024

  /// Moves the bytes between `segments` and the file at `offset` with
  /// preadv/pwritev, looping over short transfers and EINTR.
  private func transfer(
    read: Bool, at offset: UInt64, _ segments: [UnsafeMutableRawBufferPointer]
  ) throws(Errno) {
    var total = 0
    for segment in segments { total += segment.count }
    guard offset <= UInt64(Int64.max) - UInt64(total) else { throw .EIO }
    var vectors = segments.filter { $0.count > 0 }.map {
      iovec(iov_base: $0.baseAddress, iov_len: $0.count)
    }
    var first = 0
    var done = 0
    while first < vectors.count {
      let count = Int32(min(vectors.count - first, ImageFile.iovMax))
      let position = off_t(offset) + off_t(done)
      let n = vectors.withUnsafeBufferPointer { all in
        let start = all.baseAddress! + first  // `first` < vectors.count
        return read
          ? preadv(fd, start, count, position) : pwritev(fd, start, count, position)
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw !read && errno == ENOSPC ? .ENOSPC : .EIO
      }
      if n == 0 { throw .EIO }  // the file ended before the device did
      done += n
      // Step past what moved: whole vectors, then into the next one.
      var left = n
      while left > 0, first < vectors.count {
        let length = vectors[first].iov_len
        if left >= length {
          left -= length
          first += 1
        } else {
          vectors[first].iov_base = vectors[first].iov_base.map { $0 + left }
          vectors[first].iov_len -= left
          left = 0
        }
      }
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
