'use strict'

module.exports = require('./redis-server').cluster
