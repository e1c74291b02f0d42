import Foundation
import Synchronization
import XCTest

@testable import SwiftVFSFuse

/// The read/write transport's gate: when it lets one reader serve a lone
/// client, and that parked readers always come back.
final class FuseReaderGateTests: XCTestCase {
  private func now() -> UInt64 { FuseBridge.monotonicNanos() }

  /// A gate that one client's run of requests has turned hot.
  private func hotGate() -> FuseReaderGate {
    let gate = FuseReaderGate()
    for _ in 0...FuseReaderGate.hotRun { gate.note(pid: 100, now: now()) }
    XCTAssertTrue(gate.isHot)
    return gate
  }

  func testTurnsHotAfterARunOfOneProcessOnly() {
    let gate = FuseReaderGate()
    for _ in 0..<FuseReaderGate.hotRun {
      gate.note(pid: 100, now: now())
    }
    XCTAssertFalse(gate.isHot, "the first request of the run counts as none")
    gate.note(pid: 100, now: now())
    XCTAssertTrue(gate.isHot)
  }

  func testAnotherProcessTurnsItColdAndStartsAgain() {
    let gate = hotGate()
    gate.note(pid: 200, now: now())
    XCTAssertFalse(gate.isHot)
    // Two clients taking turns never turn it hot.
    for i in 0..<(4 * FuseReaderGate.hotRun) { gate.note(pid: i % 2 == 0 ? 100 : 200, now: now()) }
    XCTAssertFalse(gate.isHot)
  }

  func testRequestsWithoutAProcessDoNotCount() {
    let gate = FuseReaderGate()
    for _ in 0...FuseReaderGate.hotRun {
      gate.note(pid: 100, now: now())
      gate.note(pid: 0, now: now())  // a FORGET between the client's requests
    }
    XCTAssertTrue(gate.isHot)
  }

  func testParkingReturnsAtOnceWhenCold() {
    let gate = FuseReaderGate()
    let stopping = Flag(false)
    gate.parkWhileHot(stopping: stopping.value)  // must not sleep: nothing to wait for
    XCTAssertFalse(gate.isHot)
  }

  func testAParkedReaderComesBackWhenTheClientGoesQuiet() {
    let gate = hotGate()
    let stopping = Flag(false)
    let before = now()
    gate.parkWhileHot(stopping: stopping.value)
    XCTAssertFalse(gate.isHot)
    XCTAssertGreaterThan(now() - before, FuseReaderGate.parkNanos, "it waited for the quiet")
  }

  /// A client's requests every 0.2 ms from another thread, which keep the
  /// gate from going quiet, until the returned flag is cleared: pid 100's,
  /// or once `twoClients` is set, 100's and 200's in turn.
  private func feed(_ gate: FuseReaderGate, twoClients: Flag = Flag(false)) -> Flag {
    let feeding = Flag(true)
    Thread {
      var turn: UInt32 = 0
      while feeding.value.load(ordering: .relaxed) {
        turn += 1
        let pid: UInt32 = twoClients.value.load(ordering: .relaxed) && turn % 2 == 0 ? 200 : 100
        gate.note(pid: pid, now: FuseBridge.monotonicNanos())
        usleep(200)
      }
    }.start()
    return feeding
  }

  /// A reader parked on another thread; the expectation is met when it returns.
  private func parkAReader(_ gate: FuseReaderGate, stopping: Flag) -> XCTestExpectation {
    let done = expectation(description: "the parked reader returned")
    Thread {
      gate.parkWhileHot(stopping: stopping.value)
      done.fulfill()
    }.start()
    return done
  }

  func testAParkedReaderComesBackWhenTheLeadIsHeldUp() {
    let gate = hotGate()
    gate.leadBusy(since: now())
    // The client keeps the gate from going quiet; only the lead's long
    // request can send the parked reader back.
    let feeding = feed(gate)
    gate.parkWhileHot(stopping: Flag(false).value)
    feeding.value.store(false, ordering: .relaxed)
    XCTAssertFalse(gate.isHot)
    // While the lead is still held up, the run does not turn it hot again.
    for _ in 0...FuseReaderGate.hotRun { gate.note(pid: 100, now: now()) }
    XCTAssertFalse(gate.isHot)
    gate.leadBusy(since: 0)
    gate.note(pid: 100, now: now())
    XCTAssertTrue(gate.isHot)
  }

  func testASecondClientWakesAParkedReader() {
    let gate = hotGate()
    // Two clients taking turns never make it hot again, nor quiet.
    let twoClients = Flag(false)
    let feeding = feed(gate, twoClients: twoClients)
    let done = parkAReader(gate, stopping: Flag(false))
    usleep(20_000)
    twoClients.value.store(true, ordering: .relaxed)
    wait(for: [done], timeout: 60)
    XCTAssertFalse(gate.isHot)
    feeding.value.store(false, ordering: .relaxed)
  }

  func testStoppingWakesAParkedReader() {
    let gate = hotGate()
    let feeding = feed(gate)
    let stopping = Flag(false)
    let done = parkAReader(gate, stopping: stopping)
    usleep(20_000)
    stopping.value.store(true, ordering: .releasing)
    gate.turnCold()
    wait(for: [done], timeout: 60)
    feeding.value.store(false, ordering: .relaxed)
  }
}

/// An atomic flag that threads' closures can share.
private final class Flag: Sendable {
  let value: Atomic<Bool>
  init(_ initial: Bool) { value = Atomic(initial) }
}
