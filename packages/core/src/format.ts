// Numbers as people read them in logs and messages.

/** `512 B`, `3.4 MiB`, `1.0 GiB`: binary units, one decimal above bytes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let scaled = bytes;
  let index = 0;
  while (scaled >= 1024 && index < units.length - 1) {
    scaled /= 1024;
    index += 1;
  }
  return `${index === 0 ? Math.round(scaled) : scaled.toFixed(1)} ${units[index]}`;
}
