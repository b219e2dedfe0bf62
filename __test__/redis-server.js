'use strict'

// Jest global setup and teardown (the same function) of both projects (jest.config.js): a
// throwaway redis-server, or for the "cluster" project a 3-master Redis Cluster, on free
// loopback ports, unless REDIS_URL / REDIS_CLUSTER_NODES point at one already. Tests read
// the address from process.env. (Jest runs a setup module once however many projects name
// it, hence redis-cluster.js for the cluster.)

const { startLocalRedis, startLocalCluster } = require('../scripts/local-redis')

function globalRedis(cluster) {
  const [slot, variable] = cluster ? ['__redisCluster', 'REDIS_CLUSTER_NODES'] : ['__redisServer', 'REDIS_URL']
  return async function setupOrTeardown() {
    if (globalThis[slot]) {
      globalThis[slot].stop()
      globalThis[slot] = undefined
      return
    }
    if (process.env[variable]) return
    globalThis[slot] = cluster ? await startLocalCluster({ masters: 3 }) : await startLocalRedis()
    process.env[variable] = cluster ? globalThis[slot].nodes.join(',') : globalThis[slot].url
  }
}

module.exports = globalRedis(false)
module.exports.cluster = globalRedis(true)
