import CFuse
import SwiftVFSCore

extension Interruption {
  /// Runs a request body that may block (a device read, the trace), with an
  /// `Interruption` set as current and registered with libfuse, so that a
  /// FUSE_INTERRUPT (the caller got a signal) makes its waits return EINTR.
  static func run<T>(_ req: fuse_req_t?, _ body: () throws(Errno) -> T) throws(Errno) -> T {
    let interruption = Interruption()
    Interruption.current = interruption
    fuse_req_interrupt_func(
      req,
      { _, data in
        guard let data else { return }
        Unmanaged<Interruption>.fromOpaque(data).takeUnretainedValue().interrupt()
      }, Unmanaged.passUnretained(interruption).toOpaque())
    defer {
      // After this returns libfuse calls the callback no more.
      fuse_req_interrupt_func(req, nil, nil)
      Interruption.current = nil
    }
    return try body()
  }
}
