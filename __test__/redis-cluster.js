'use strict'

// Jest global setup and teardown of the "cluster" project (the same module): a throwaway
// 3-master Redis Cluster on free loopback ports, unless REDIS_CLUSTER_NODES names one.

const { startLocalCluster } = require('../scripts/local-redis')

module.exports = async function redisCluster() {
  if (globalThis.__redisCluster) {
    globalThis.__redisCluster.stop()
    globalThis.__redisCluster = undefined
    return
  }
  if (process.env.REDIS_CLUSTER_NODES) return
  globalThis.__redisCluster = await startLocalCluster({ masters: 3 })
  process.env.REDIS_CLUSTER_NODES = globalThis.__redisCluster.nodes.join(',')
}
