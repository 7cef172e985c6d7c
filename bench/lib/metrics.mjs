// The cost of STS_METRICS_PORT (issue 13 §4), in alternating pairs (paired.mjs). The instance with
// metrics is scraped every METRICS_SCRAPE_MS meanwhile, as Prometheus would (more often than it usually does).
import { clearInterval, setInterval } from 'node:timers';
import { pairedCost } from './paired.mjs';

const METRICS_SCRAPE_MS = 1_000;

/** Scrapes `url` every METRICS_SCRAPE_MS until the returned stop function is called. */
function scraping(url) {
  const timer = setInterval(() => void fetch(url).then((r) => r.text(), () => {}), METRICS_SCRAPE_MS);
  return () => clearInterval(timer);
}

/** pairedCost's scenarios and result, with the metrics URL scraped all along. */
export async function metricsCost({ metricsUrl, ...paired }) {
  const stop = scraping(metricsUrl);
  try {
    return await pairedCost({ ...paired, tag: 'metrics' });
  } finally {
    stop();
  }
}
