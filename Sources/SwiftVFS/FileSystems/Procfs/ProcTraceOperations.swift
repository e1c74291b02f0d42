import SwiftVFSCore

/// `/proc/vfs/trace`: the request trace as a file, like ftrace's `trace_pipe`
/// (kernel/trace/trace.c, tracing_read_pipe): each open reader gets the lines
/// of the requests served while the trace is open, and a read at the end
/// waits, interruptibly, until the next request is recorded.
///
/// Its size is the bytes traced so far, so `tail -f` sees it grow (tail reads
/// a regular file only when its size changes); `cat` streams it. The trace's
/// own requests are not traced (they would feed it). A reader opened with
/// O_NONBLOCK gets EAGAIN instead of waiting; poll reports it readable when
/// a line is waiting.
struct ProcTraceOperations: InodeOperations, FileOperations {
  let trace: TraceRing

  func getattr(_ inode: Inode) throws(Errno) -> Stat {
    var st = Simple.getattr(inode)
    st.size = trace.size
    return st
  }

  func setattr(_ inode: Inode, _ attr: SetAttr, cred: Cred) throws(Errno) {
    if attr.mode != nil || attr.uid != nil || attr.gid != nil || attr.size != nil {
      throw .EPERM
    }
  }

  func open(_ inode: Inode, _ file: File) throws(Errno) {
    try ProcControl.checkPermission(inode, file)
    file.directIO = true
    file.privateData = trace.attach()
  }

  func release(_ inode: Inode, _ file: File) {
    if let reader = file.privateData as? TraceRing.Reader { trace.detach(reader) }
  }

  func read(_ file: File, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64)
    throws(Errno) -> Int
  {
    guard let reader = file.privateData as? TraceRing.Reader else { throw .EBADF }
    return try trace.read(reader, into: buffer, at: offset, nonBlocking: file.isNonBlocking)
  }

  /// Like tracing_poll_pipe(): readable when a line waits at the reader's
  /// last position (FUSE poll does not say the offset; the stream end is it).
  func poll(_ file: File, waiter: PollWaiter?) -> PollEvents {
    guard let reader = file.privateData as? TraceRing.Reader else { return .default }
    let ready = trace.queue.pollWait(waiter) { trace.hasUnread(reader) }
    return ready ? [.readable, .readNormal] : []
  }
}
