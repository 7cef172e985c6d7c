import type { ChildProcess } from 'node:child_process';

export function freePort(): Promise<number>;
/** Resolves when redis-server on 127.0.0.1:port answers PONG; rejects otherwise. */
export function ping(port: number): Promise<void>;
export function spawnRedis(port: number, dir: string, extraArgs?: string[]): Promise<ChildProcess>;
