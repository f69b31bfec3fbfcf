/**
 * Lets at most `max` holders run at once; the others wait in arrival order. A waiter whose signal aborts
 * leaves the queue and rejects with the signal's reason.
 */
export class ConcurrencyLimit {
  private active = 0;
  private readonly waiters: Array<{ grant: () => void; reject: (reason: unknown) => void; signal: AbortSignal }> = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`max must be a whole number of at least 1, got ${max}`);
    }
  }

  get activeCount(): number {
    return this.active;
  }

  get waitingCount(): number {
    return this.waiters.length;
  }

  /** Waits for a free slot and returns the function that frees it. Calls after the first do nothing. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.active < this.max) {
      this.active += 1;
      return this.releaser();
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        signal,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        reject,
      };
      const onAbort = () => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) {
          this.waiters.splice(index, 1);
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) {
        return;
      }
      released = true;
      const next = this.waiters.shift();
      if (next === undefined) {
        this.active -= 1;
      } else {
        // The slot passes straight to the next waiter, so `active` stays the same.
        next.grant();
      }
    };
  }
}
