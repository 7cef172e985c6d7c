import type { ChildProcess } from 'node:child_process';

export function freePort(): Promise<number>;
export function spawnRedis(port: number, dir: string, extraArgs?: string[]): Promise<ChildProcess>;
