import SwiftVFS

/// The device's state: a ring buffer of bytes shared by every open of the
/// node, like LDD3's scullpipe (`struct scull_pipe`): writers append, readers
/// consume, each side sleeps on its own wait queue while it cannot go on.
///
/// Locking: `lock` guards the ring. The wait queues' conditions take it, so
/// it is never held while calling into a queue (`wakeAll`, `wait`).
final class RingDevice: @unchecked Sendable {
  /// The bytes the ring holds at most.
  let capacity: Int
  /// Readers sleep here until there is something to read (scull_pipe.inq).
  let readers = WaitQueue()
  /// Writers sleep here until there is room (scull_pipe.outq).
  let writers = WaitQueue()

  private let lock = Lock()
  private var storage: [UInt8]
  private var head = 0  // the oldest byte
  private var count = 0  // bytes held

  init(capacity: Int = 4096) {
    self.capacity = capacity
    storage = Array(repeating: 0, count: capacity)
  }

  /// The bytes held, waiting to be read.
  var fill: Int { lock.withLock { count } }

  /// Moves up to `buffer.count` bytes out of the ring; returns how many.
  func take(into buffer: UnsafeMutableRawBufferPointer) -> Int {
    lock.withLock {
      let n = min(buffer.count, count)
      for i in 0..<n { buffer[i] = storage[(head + i) % capacity] }
      head = (head + n) % capacity
      count -= n
      return n
    }
  }

  /// Appends as many bytes of `buffer` as there is room for; returns how many.
  func put(_ buffer: UnsafeRawBufferPointer) -> Int {
    lock.withLock {
      let n = min(buffer.count, capacity - count)
      for i in 0..<n { storage[(head + count + i) % capacity] = buffer[i] }
      count += n
      return n
    }
  }

  /// Empties the ring.
  func clear() {
    lock.withLock {
      head = 0
      count = 0
    }
  }
}

/// The driver's `file_operations`: read, write, poll and ioctl on a
/// `RingDevice`, as in scullpipe (LDD3 chapters 3, 6).
struct RingFileOperations: FileOperations {
  /// The ioctl "magic" byte (LDD3's SCULL_IOC_MAGIC; Documentation/userspace-api/ioctl/ioctl-number.rst).
  static let magic = UInt8(ascii: "r")
  /// RING_IOCRESET = _IO('r', 0): empties the ring.
  static let reset = Ioctl.io(magic, 0)
  /// RING_IOCGFILL = _IOR('r', 1, int): the bytes waiting to be read.
  static let getFill = Ioctl.ior(magic, 1, size: 4)
  /// RING_IOCGSIZE = _IOR('r', 2, int): the ring's capacity.
  static let getSize = Ioctl.ior(magic, 2, size: 4)

  let device: RingDevice

  /// A stream: offsets mean nothing (nonseekable_open()).
  func open(_ inode: Inode, _ file: File) throws(Errno) {
    file.nonSeekable = true
  }

  /// Like scull_p_read(): what is there, at most `buffer.count` bytes;
  /// sleeps until a writer adds something, or EAGAIN with O_NONBLOCK.
  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard buffer.count > 0 else { return 0 }
    while true {
      let n = device.take(into: buffer)
      if n > 0 {
        device.writers.wakeAll()
        return n
      }
      if file.isNonBlocking { throw .EAGAIN }
      try device.readers.wait(until: { device.fill > 0 })  // EINTR if interrupted
    }
  }

  /// Like scull_p_write(): appends what fits; sleeps while the ring is full,
  /// or EAGAIN with O_NONBLOCK.
  func write(_ file: File, from buffer: UnsafeRawBufferPointer, at offset: Int64) throws(Errno)
    -> Int
  {
    guard buffer.count > 0 else { return 0 }
    while true {
      let n = device.put(buffer)
      if n > 0 {
        device.readers.wakeAll()
        return n
      }
      if file.isNonBlocking { throw .EAGAIN }
      try device.writers.wait(until: { device.fill < device.capacity })
    }
  }

  /// Like scull_p_poll(): readable when the ring holds bytes, writable when
  /// it has room; a waiter is kept on the queue of what is not ready yet.
  func poll(_ file: File, waiter: PollWaiter?) -> PollEvents {
    var events: PollEvents = []
    if device.readers.pollWait(waiter, readyWhen: { device.fill > 0 }) {
      events.formUnion([.readable, .readNormal])
    }
    if device.writers.pollWait(waiter, readyWhen: { device.fill < device.capacity }) {
      events.formUnion([.writable, .writeNormal])
    }
    return events
  }

  /// Like scull_ioctl(): ENOTTY for a command that is not ours.
  func ioctl(
    _ file: File, command: UInt32, argument: UInt64, input: UnsafeRawBufferPointer,
    outputSize: Int
  ) throws(Errno) -> (result: Int32, output: [UInt8]) {
    switch command {
    case Self.reset:
      device.clear()
      device.writers.wakeAll()
      return (0, [])
    case Self.getFill, Self.getSize:
      guard outputSize >= 4 else { throw .EFAULT }  // put_user() failing
      let value = command == Self.getFill ? device.fill : device.capacity
      return (0, Ioctl.bytes(of: Int32(value)))
    default:
      throw .ENOTTY
    }
  }
}
