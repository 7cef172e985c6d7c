/** The service's clock: one object the wiring file builds and passes down (tests pass a fake one). */
export { systemClock, type Clock } from 'agent-sts-gate/protocol';
